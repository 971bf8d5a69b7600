use ndarray::{s, Array, Array2, ArrayView2, ArrayViewMut2};

use super::super::{Operand, Product};
use super::{Finish, Region, LINE};

fn matrix(rows: usize, cols: usize, phase: f32) -> Array2<f32> {
    Array::from_shape_fn((rows, cols), |(i, j)| {
        ((i * 13 + j * 7) as f32 * 0.37 + phase).sin()
    })
}

/// `C ← [C +] A B` through one micro-kernel, or `C ← start + A B` with `start`, or
/// `out ← out + (…)` with `out`.
fn packed(
    kernel: unsafe fn(Product, Option<Operand>, Option<Finish>),
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    c: &mut Array2<f32>,
    accumulate: bool,
    start: Option<ArrayView2<'_, f32>>,
    out: Option<&mut ArrayViewMut2<'_, f32>>,
) {
    let product = Product {
        m: a.nrows(),
        n: b.ncols(),
        k: a.ncols(),
        a: Operand::of(&a),
        b: Operand::of(&b),
        c: c.as_mut_ptr(),
        c_row_stride: c.strides()[0],
        accumulate,
    };
    let start = start.map(|start| Operand::of(&start));
    let finish = out.map(|out| Finish {
        out: out.as_mut_ptr(),
        row_stride: out.strides()[0],
    });
    // SAFETY: the operands and `start` are views of the recorded shapes, `c` and
    // `out` are arrays of the product's shape with unit column stride, and the caller
    // checked the CPU.
    unsafe { kernel(product, start, finish) };
}

/// What a product is added to in [`micro_kernels_match_the_reference_and_each_other`].
#[derive(Clone, Copy, Debug, PartialEq)]
enum Added {
    Nothing,
    /// C, holding 1.
    Itself,
    /// A row broadcast over C's rows, as a bias is.
    Row,
}

/// Both micro-kernels, at sizes that cross the edges of tiles, panels and blocks
/// (`MC` = 96 rows for AVX-512 and 144 for AVX2, `KC` = 256 depths, `NC` = 1024 columns), with every operand
/// layout, added to nothing, to C or to a broadcast row, stored in C or added to
/// another matrix: they agree with a plain f64 sum and, bit for bit, with each other.
#[test]
fn micro_kernels_match_the_reference_and_each_other() {
    if !std::is_x86_feature_detected!("avx2") || !std::is_x86_feature_detected!("fma") {
        return;
    }
    let avx512 = std::is_x86_feature_detected!("avx512f");
    for (m, n, k) in [
        (1, 1, 1),
        (13, 33, 9),
        (145, 40, 257),
        (30, 1030, 20),
        (30, 1030, 600),
        (12, 32, 600),
    ] {
        let (a, b) = (matrix(m, k, 0.2), matrix(k, n, 0.6));
        let (a_t, b_t) = (a.t().to_owned(), b.t().to_owned());
        let row = Array::from_shape_fn(n, |j| 0.5 + j as f32 * 0.01);
        let expected = Array::from_shape_fn((m, n), |(i, j)| {
            (0..k)
                .map(|p| f64::from(a[[i, p]]) * f64::from(b[[p, j]]))
                .sum::<f64>()
        });
        for (a, b) in [(a.view(), b.view()), (a_t.t(), b_t.t())] {
            for added in [Added::Nothing, Added::Itself, Added::Row] {
                for finish in [false, true] {
                    let c_start = if added == Added::Itself {
                        1.0
                    } else {
                        f32::NAN
                    };
                    // With a finish, the result is what `out` holds, 0.25 more.
                    let (offset, out_start) = if finish {
                        (0.25, 0.25)
                    } else {
                        (0.0, f32::NAN)
                    };
                    let start = (added == Added::Row).then(|| row.broadcast((m, n)).unwrap());
                    let run = |kernel| {
                        let mut c = Array2::from_elem((m, n), c_start);
                        // Rows further apart than C's.
                        let mut wide = Array2::from_elem((m, n + 5), out_start);
                        let mut out = wide.slice_mut(s![.., ..n]);
                        let accumulate = added == Added::Itself;
                        packed(
                            kernel,
                            a,
                            b,
                            &mut c,
                            accumulate,
                            start,
                            finish.then_some(&mut out),
                        );
                        if finish {
                            out.to_owned()
                        } else {
                            c
                        }
                    };
                    let c2 = run(Product::packed_avx2);
                    let tolerance = 1e-6 * k as f64 + 1e-6;
                    for ((i, j), &c) in c2.indexed_iter() {
                        let base = match added {
                            Added::Nothing => 0.0,
                            Added::Itself => 1.0,
                            Added::Row => f64::from(row[j]),
                        };
                        let e = expected[[i, j]] + base + offset;
                        assert!(
                            (f64::from(c) - e).abs() <= tolerance,
                            "{m}×{n}×{k}, {added:?}, finish {finish} at ({i}, {j}): {c} vs {e}"
                        );
                    }
                    if avx512 {
                        let c16 = run(Product::packed_avx512);
                        assert!(
                            c16.iter().zip(&c2).all(|(x, y)| x.to_bits() == y.to_bits()),
                            "{m}×{n}×{k}, {added:?}, finish {finish}: AVX-512 and AVX2 differ"
                        );
                    }
                }
            }
        }
    }
}

/// A product that panics (here on a debug assertion: a start given with accumulate)
/// gives the thread's packing buffers back all the same, so a later product need not
/// allocate them again.
#[cfg(debug_assertions)]
#[test]
fn a_panicking_product_gives_the_buffers_back() {
    if !std::is_x86_feature_detected!("avx2") || !std::is_x86_feature_detected!("fma") {
        return;
    }
    let (a, b) = (matrix(40, 50, 0.1), matrix(50, 60, 0.2));
    let mut c = Array2::zeros((40, 60));
    packed(
        Product::packed_avx2,
        a.view(),
        b.view(),
        &mut c,
        false,
        None,
        None,
    );
    let warm = crate::scratch::thread_floats();
    assert!(warm > 0);
    let start = Array2::zeros((40, 60));
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        packed(
            Product::packed_avx2,
            a.view(),
            b.view(),
            &mut c,
            true,
            Some(start.view()),
            None,
        );
    }));
    assert!(panicked.is_err());
    assert_eq!(crate::scratch::thread_floats(), warm);
}

/// A [`Region`] walks, run after run, exactly the lines holding what [`pack`] reads:
/// for rows or depths contiguous, runs starting mid-line, and runs a stride apart
/// that is not a whole number of lines (so that neighbours share a line, walked in
/// each); and one with neither contiguous walks nothing.
#[test]
fn a_region_walks_the_lines_of_a_pack_run_by_run() {
    let x = matrix(40, 50, 0.1);
    let line_of = |p: &f32| p as *const f32 as usize / LINE;
    for (view, i0, rows, p0, kc) in [
        (x.view(), 3, 9, 5, 30),
        (x.t(), 1, 33, 7, 6),
        (x.slice(s![.., 1..]), 0, 40, 0, 49),
    ] {
        let mut expected = Vec::new();
        let rows_contiguous = view.strides()[1] == 1;
        let (runs, run) = if rows_contiguous {
            (rows, kc)
        } else {
            (kc, rows)
        };
        for r in 0..runs {
            let mut lines: Vec<_> = (0..run)
                .map(|e| match rows_contiguous {
                    true => line_of(&view[(i0 + r, p0 + e)]),
                    false => line_of(&view[(i0 + e, p0 + r)]),
                })
                .collect();
            lines.dedup();
            expected.extend(lines);
        }
        let mut region = Region::of(Operand::of(&view), i0, rows, p0, kc);
        let walked: Vec<_> = std::iter::from_fn(|| region.next_line())
            .map(|line| line as usize / LINE)
            .collect();
        assert_eq!(walked, expected);
    }
    let strided = x.slice(s![..;2, ..;2]);
    let mut region = Region::of(Operand::of(&strided), 0, 4, 0, 4);
    assert_eq!(region.next_line(), None);
}
