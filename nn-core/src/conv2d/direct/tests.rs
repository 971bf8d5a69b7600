use super::*;
use crate::shape::Window;

fn geometry(channels: usize, height: usize, width: usize, size: usize) -> Geometry {
    Geometry {
        channels,
        height,
        width,
        window: Window {
            size,
            stride: 1,
            padding: 0,
        },
    }
}

/// Irregular values in [−1, 1), no symmetry a wrong index could hide behind.
fn filled(len: usize, phase: f32) -> Vec<f32> {
    (0..len).map(|i| (i as f32 * 0.37 + phase).sin()).collect()
}

/// `a[c, y + i, x + j]`, the unrolled input by its definition.
fn unrolled(g: Geometry, image: &[f32], p: usize, pos: usize) -> f64 {
    let k = g.window.size;
    let (c, i, j) = (p / (k * k), p / k % k, p % k);
    let (y, x) = (pos / g.out_width(), pos % g.out_width());
    f64::from(image[(c * g.height + y + i) * g.width + x + j])
}

const SHAPES: [(usize, usize, usize, usize); 4] =
    [(1, 28, 28, 5), (6, 12, 12, 5), (3, 9, 18, 3), (2, 8, 8, 1)];

#[test]
fn applies_only_to_stride_one_without_padding_and_rows_of_whole_vectors() {
    let avx2 = crate::isa::avx2();
    for (c, h, w, k) in SHAPES {
        assert_eq!(applies(geometry(c, h, w, k)), avx2);
    }
    let strided = Geometry {
        window: Window {
            size: 5,
            stride: 2,
            padding: 0,
        },
        ..geometry(1, 28, 28, 5)
    };
    let padded = Geometry {
        window: Window {
            size: 5,
            stride: 1,
            padding: 2,
        },
        ..geometry(1, 20, 20, 5)
    };
    for g in [
        strided,
        padded,
        geometry(1, 12, 16, 5),
        geometry(2, 9, 9, 3),
    ] {
        assert!(!applies(g), "{g:?}");
    }
}

#[test]
fn forward_is_the_product_with_the_unrolled_input() {
    for (c, h, w, k) in SHAPES {
        let g = geometry(c, h, w, k);
        if !applies(g) {
            continue;
        }
        let outputs = 7;
        let (weight, bias) = (filled(outputs * g.patch_len(), 0.3), filled(outputs, 1.1));
        let image = filled(c * h * w, 2.0);
        let mut z = vec![f32::NAN; outputs * g.positions()];
        forward(g, &weight, &bias, &image, &mut z);
        for o in 0..outputs {
            for pos in 0..g.positions() {
                let want = f64::from(bias[o])
                    + (0..g.patch_len())
                        .map(|p| {
                            f64::from(weight[o * g.patch_len() + p]) * unrolled(g, &image, p, pos)
                        })
                        .sum::<f64>();
                let got = f64::from(z[o * g.positions() + pos]);
                assert!(
                    (got - want).abs() < 1e-4,
                    "{g:?}: z[{o}, {pos}] = {got}, want {want}"
                );
            }
        }
    }
}

#[test]
fn input_adjoint_scatters_the_error_signal_in_columns() {
    for (c, h, w, k) in SHAPES {
        let g = geometry(c, h, w, k);
        if !applies(g) {
            continue;
        }
        let outputs = 6;
        let weight = filled(outputs * g.patch_len(), 0.9);
        let delta = filled(outputs * g.positions(), 2.6);
        // col2im(Wᵀ Δ) by its definition: each column entry added onto its pixel.
        let mut want = vec![0.0f64; c * h * w];
        for o in 0..outputs {
            for p in 0..g.patch_len() {
                for pos in 0..g.positions() {
                    let pixel = tap_offset(g, p) + vector_base(g, pos / LANES) + pos % LANES;
                    want[pixel] += f64::from(weight[o * g.patch_len() + p])
                        * f64::from(delta[o * g.positions() + pos]);
                }
            }
        }
        for registers in [Registers::Widest, Registers::Avx2] {
            let mut got = vec![f32::NAN; c * h * w];
            adjoint_input_in(g, &weight, &delta, &mut got, registers);
            for (pixel, (&got, &want)) in got.iter().zip(&want).enumerate() {
                let got = f64::from(got);
                assert!(
                    (got - want).abs() < 1e-4,
                    "{g:?}: δ_prev[{pixel}] = {got}, want {want}"
                );
            }
        }
    }
}

#[test]
fn weight_adjoint_adds_the_correlation_over_samples_for_any_taps() {
    for (c, h, w, k) in SHAPES {
        let g = geometry(c, h, w, k);
        if !applies(g) {
            continue;
        }
        // Channels too few to fill three quarters of a vector's lanes, and enough to
        // fill them once and a bit more: each way of the widest registers.
        for (outputs, samples) in [(5, 3), (13, 2), (29, 2)] {
            let images = filled(samples * c * h * w, 0.7);
            let deltas = filled(samples * outputs * g.positions(), 1.9);
            // The last two thirds of the taps, into columns 1.. of a gradient one column
            // wider on each side.
            let taps = g.patch_len() / 3..g.patch_len();
            for registers in [Registers::Widest, Registers::Avx2] {
                let mut grad = ndarray::Array2::from_elem((outputs, taps.len() + 2), 0.5f32);
                let inner = ndarray::s![.., 1..taps.len() + 1];
                adjoint_weight_in(
                    g,
                    &images,
                    &deltas,
                    taps.clone(),
                    grad.slice_mut(inner),
                    registers,
                );
                let image_len = c * h * w;
                for o in 0..outputs {
                    let row = grad.row(o);
                    assert_eq!(
                        (row[0], row[taps.len() + 1]),
                        (0.5, 0.5),
                        "{g:?}: written outside"
                    );
                    for (q, p) in taps.clone().enumerate() {
                        let value = row[q + 1];
                        let want = 0.5
                            + (0..samples)
                                .map(|n| {
                                    let image = &images[n * image_len..][..image_len];
                                    (0..g.positions())
                                        .map(|pos| {
                                            let d = deltas[(n * outputs + o) * g.positions() + pos];
                                            f64::from(d) * unrolled(g, image, p, pos)
                                        })
                                        .sum::<f64>()
                                })
                                .sum::<f64>();
                        let got = f64::from(value);
                        assert!(
                            (got - want).abs() < 1e-3,
                            "{g:?}: ∇W[{o}, {p}] = {got}, want {want}"
                        );
                    }
                }
            }
        }
    }
}
