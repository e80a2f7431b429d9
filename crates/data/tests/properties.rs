//! Properties the transforms and the IDX reader promise, on random inputs.

use std::path::Path;

use gradflow_data::{
    CenterCrop, Image, RandomCrop, RandomResizedCrop, SampleRng, Transform, crop, encode_idx_u8,
    fuzzing, hflip, pad, parse_idx,
};
use proptest::prelude::*;

fn any_image() -> impl Strategy<Value = Image> {
    (
        1usize..24,
        1usize..24,
        prop_oneof![Just(1usize), Just(3usize)],
    )
        .prop_flat_map(|(w, h, c)| {
            proptest::collection::vec(any::<u8>(), w * h * c)
                .prop_map(move |data| Image::new(w, h, c, data).unwrap())
        })
}

proptest! {
    #[test]
    fn hflip_is_an_involution(img in any_image()) {
        prop_assert_eq!(hflip(&hflip(&img)), img);
    }

    #[test]
    fn cropping_the_padding_away_gives_the_image_back(img in any_image(), l in 0usize..5, t in 0usize..5, r in 0usize..5, b in 0usize..5) {
        let p = pad(&img, l, t, r, b);
        prop_assert_eq!((p.width(), p.height()), (img.width() + l + r, img.height() + t + b));
        prop_assert_eq!(crop(&p, t as i64, l as i64, img.height(), img.width()), img);
    }

    #[test]
    fn random_resized_crop_boxes_lie_inside_the_image(h in 1usize..300, w in 1usize..300, seed in any::<u64>()) {
        let mut rng = SampleRng::new(seed);
        let (top, left, bh, bw) = RandomResizedCrop::new(8).params(h, w, &mut rng);
        prop_assert!(bh >= 1 && bw >= 1, "empty box {bh}×{bw}");
        prop_assert!(top + bh <= h && left + bw <= w, "box {top},{left},{bh},{bw} outside {h}×{w}");
    }

    #[test]
    fn crops_have_the_requested_size(img in any_image(), s in 1usize..30, seed in any::<u64>()) {
        let mut rng = SampleRng::new(seed);
        let c = CenterCrop::new(s, s + 1).apply(img.clone(), &mut rng).unwrap();
        prop_assert_eq!((c.height(), c.width()), (s, s + 1));
        let r = RandomCrop::new(s, s).pad_if_needed(true).apply(img.clone(), &mut rng).unwrap();
        prop_assert_eq!((r.height(), r.width()), (s, s));
        let rr = RandomResizedCrop::new(s).apply(img, &mut rng).unwrap();
        prop_assert_eq!((rr.height(), rr.width()), (s, s));
    }

    #[test]
    fn idx_round_trips_and_any_cut_is_an_error(dims in proptest::collection::vec(0usize..5, 0..4), cut in any::<prop::sample::Index>()) {
        let n: usize = dims.iter().product();
        let values: Vec<u8> = (0..n).map(|i| (i * 31 % 256) as u8).collect();
        let bytes = encode_idx_u8(&dims, &values);
        let a = parse_idx(&bytes, Path::new("p")).unwrap();
        prop_assert_eq!(&a.shape, &dims);
        prop_assert_eq!(a.values, values.iter().map(|&v| f32::from(v)).collect::<Vec<_>>());
        let at = cut.index(bytes.len());
        prop_assert!(parse_idx(&bytes[..at], Path::new("p")).is_err());
    }

    #[test]
    fn the_fuzz_entry_points_never_panic_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        fuzzing::idx(&bytes);
        fuzzing::image_decode(&bytes);
    }
}
