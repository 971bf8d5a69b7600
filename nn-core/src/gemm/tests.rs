//! The matrix products against ndarray's, in every form and layout, cut among threads or
//! not.

use super::*;
use ndarray::{s, Array, Array2};

fn matrix(rows: usize, cols: usize, phase: f32) -> Array2<f32> {
    Array::from_shape_fn((rows, cols), |(i, j)| {
        ((i * 13 + j * 7) as f32 * 0.37 + phase).sin()
    })
}

/// The product in f64, one element at a time.
fn reference(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f64> {
    Array::from_shape_fn((a.nrows(), b.ncols()), |(i, j)| {
        (0..a.ncols())
            .map(|p| f64::from(a[[i, p]]) * f64::from(b[[p, j]]))
            .sum()
    })
}

fn assert_close(c: &Array2<f32>, expected: &Array2<f64>, k: usize, form: &str) {
    // Each element sums k products of magnitude ≤ 1; f32 rounding grows like k · ε.
    let tolerance = 1e-6 * k as f64 + 1e-6;
    for (idx, &c) in c.indexed_iter() {
        let e = expected[idx];
        assert!(
            (f64::from(c) - e).abs() <= tolerance,
            "{form}, {:?} × {k}: at {idx:?}, {c} vs {e}",
            expected.dim()
        );
    }
}

/// Every form, with sizes around the tile and block edges, overwriting and
/// accumulating.
#[test]
fn every_form_matches_the_reference() {
    let sizes = [1, 2, 3, 5, 6, 7, 8, 9, 15, 16, 17, 33, 70, 257, 300];
    for (s, &m) in sizes.iter().enumerate() {
        for &n in &sizes[s % 3..] {
            for &k in &[1, 2, 7, 8, 9, 31, 256, 257, 300] {
                if m * n * k > 300_000 {
                    continue;
                }
                let a = matrix(m, k, 0.1);
                let b = matrix(k, n, 0.7);
                let a_t = a.t().to_owned(); // stored k × m: `a_t.t()` is A with strided rows
                let b_t = b.t().to_owned(); // stored n × k: `b_t.t()` is B with strided rows
                let expected = reference(a.view(), b.view());
                for (form, a, b) in [
                    ("A B", a.view(), b.view()),
                    ("Aᵀᵀ B", a_t.t(), b.view()),
                    ("A Bᵀᵀ", a.view(), b_t.t()),
                ] {
                    let mut c = Array2::from_elem((m, n), f32::NAN);
                    matmul(a, b, Write::Over, c.view_mut());
                    assert_close(&c, &expected, k, form);
                    let mut c = Array2::ones((m, n));
                    matmul(a, b, Write::Add, c.view_mut());
                    assert_close(&c, &(&expected + 1.0), k, form);
                }
            }
        }
    }
}

#[test]
fn reversed_operands_and_padded_rows_of_c() {
    use ndarray::s;
    let (m, n, k) = (9, 35, 20);
    let a = matrix(m, k, 0.2);
    let b = matrix(k, n, 0.5);
    // Rows of A in reverse (negative row stride), B read backwards along its columns.
    let (a_rev, b_rev) = (a.slice(s![..;-1, ..]), b.slice(s![.., ..;-1]));
    let expected = reference(a_rev, b_rev);
    // C is a window of a wider array: its row stride exceeds n; the rest stays put.
    let mut wide = Array2::from_elem((m, n + 5), 7.0f32);
    matmul(a_rev, b_rev, Write::Over, wide.slice_mut(s![.., ..n]));
    assert_close(
        &wide.slice(s![.., ..n]).to_owned(),
        &expected,
        k,
        "reversed",
    );
    assert!(wide.slice(s![.., n..]).iter().all(|&v| v == 7.0));
}

#[test]
fn portable_loops_match_the_reference() {
    for (m, n, k) in [(1, 1, 1), (7, 17, 9), (13, 33, 300), (6, 16, 257)] {
        let a = matrix(m, k, 0.3);
        let b = matrix(k, n, 0.9);
        let b_t = b.t().to_owned();
        let expected = reference(a.view(), b.view());
        for (form, b) in [("A B", b.view()), ("A Bᵀᵀ", b_t.t())] {
            let mut c = Array2::from_elem((m, n), f32::NAN);
            let product = Product {
                m,
                n,
                k,
                a: Operand::of(&a.view()),
                b: Operand::of(&b),
                c: c.as_mut_ptr(),
                c_row_stride: n as isize,
                accumulate: false,
            };
            // SAFETY: the operands and `c` are owned arrays of the recorded shapes.
            unsafe { product.run_portable(product.form().unwrap()) };
            assert_close(&c, &expected, k, form);
        }
    }
    // Rank updates, without the AVX2 build of the same loop.
    for (m, n, k) in [(1, 1, 1), (7, 17, 1), (5, 33, 2)] {
        let (a, b) = (matrix(m, k, 0.3), matrix(k, n, 0.9));
        let expected = reference(a.view(), b.view());
        for accumulate in [false, true] {
            let mut c = Array2::from_elem((m, n), if accumulate { 1.0 } else { f32::NAN });
            let product = Product {
                m,
                n,
                k,
                a: Operand::of(&a.view()),
                b: Operand::of(&b.view()),
                c: c.as_mut_ptr(),
                c_row_stride: n as isize,
                accumulate,
            };
            // SAFETY: as above; B has contiguous rows.
            unsafe { product.rank_update() };
            let expected = if accumulate {
                &expected + 1.0
            } else {
                expected.clone()
            };
            assert_close(&c, &expected, k, "rank update");
        }
    }
}

/// Both SIMD builds of the broadcast form, called directly (whatever `matmul` would
/// pick on this CPU), overwriting and accumulating into a window of a wider array,
/// with ragged edges of either's tiles (a second vector partly inside C included),
/// and one column of `B` apart from the next (for n = 1): each matches the reference,
/// writes nothing outside the window, and they agree bit for bit, so the form gives
/// the same results on either instruction set. (Skipped on a CPU without AVX-512.)
#[cfg(target_arch = "x86_64")]
#[test]
fn broadcast_builds_agree() {
    if !std::is_x86_feature_detected!("avx512f")
        || !std::is_x86_feature_detected!("avx2")
        || !std::is_x86_feature_detected!("fma")
    {
        return;
    }
    for (m, n, k) in [
        (1, 1, 3),
        (12, 1, 20),
        (10, 128, 128),
        (17, 40, 300),
        (9, 300, 7),
        (7, 10, 9),
        (9, 20, 5),
        (11, 50, 33),
    ] {
        let (a, b) = (matrix(m, k, 0.4), matrix(k, n, 0.8));
        let (a_t, b_t) = (a.t().to_owned(), b.t().to_owned());
        // A with rows apart; B with contiguous rows, or for one column, its elements apart.
        let b_view = if n == 1 { b_t.t() } else { b.view() };
        let expected = reference(a.view(), b.view());
        for accumulate in [false, true] {
            let run = |kernel: unsafe fn(Product)| {
                // C is columns 3..3 + n of an array 40 columns wider, holding 7.0.
                let mut wide = Array2::from_elem((m, n + 40), 7.0f32);
                let mut c = wide.slice_mut(s![.., 3..3 + n]);
                c.fill(if accumulate { 1.0 } else { f32::NAN });
                let product = Product::of(&a_t.t(), &b_view, accumulate, &mut c);
                // SAFETY: the operands and `c` are views of the recorded shapes, B with
                // contiguous rows or one column, C with contiguous rows, and the CPU was
                // checked above.
                unsafe { kernel(product) };
                let outside = wide
                    .slice(s![.., ..3])
                    .into_iter()
                    .chain(wide.slice(s![.., 3 + n..]));
                assert!(
                    outside.into_iter().all(|&x| x == 7.0),
                    "{m} × {n} × {k}: a write outside C"
                );
                wide.slice(s![.., 3..3 + n]).to_owned()
            };
            let (avx2, avx512) = (run(Product::broadcast_avx2), run(Product::broadcast_avx512));
            let expected = &expected + if accumulate { 1.0 } else { 0.0 };
            assert_close(&avx2, &expected, k, "broadcast, AVX2");
            assert_close(&avx512, &expected, k, "broadcast, AVX-512");
            assert!(
                avx2.iter()
                    .zip(&avx512)
                    .all(|(x, y)| x.to_bits() == y.to_bits()),
                "{m} × {n} × {k}: AVX2 and AVX-512 differ"
            );
        }
    }
}

/// Products big enough to be cut among threads, narrow ones included (a cut must
/// leave no empty or one-column piece): 2 and 3 threads give the bits 1 thread gives.
#[test]
fn threads_change_no_bit() {
    let pool = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    };
    let pools = [pool(1), pool(2), pool(3)];
    for (m, n, k) in [
        (12, 13, 4096),
        (12, 16, 4096),
        (16, 17, 4096),
        (64, 100, 300),
        // Summed in two halves of its depth: on one thread, the second half's last
        // block adds into C what two threads add at the end; one block, or two.
        (64, 100, 512),
        (64, 100, 1000),
    ] {
        let a = matrix(m, k, 0.3);
        let b = matrix(k, n, 0.5);
        let b_t = b.t().to_owned();
        let start = matrix(m, n, 0.7);
        for (form, b, write) in [
            ("A B", b.view(), Write::Over),
            ("A Bᵀᵀ", b_t.t(), Write::Over),
            ("C + A B", b.view(), Write::Add),
        ] {
            let mut expected = reference(a.view(), b);
            if write == Write::Add {
                expected += &start.mapv(f64::from);
            }
            let results: Vec<Array2<f32>> = pools
                .iter()
                .map(|pool| {
                    pool.install(|| {
                        let mut c = if write == Write::Add {
                            start.clone()
                        } else {
                            Array2::from_elem((m, n), f32::NAN)
                        };
                        matmul(a.view(), b, write, c.view_mut());
                        c
                    })
                })
                .collect();
            assert_close(&results[0], &expected, k, form);
            for (threads, c) in results.iter().enumerate().skip(1) {
                assert!(
                    c.iter()
                        .zip(&results[0])
                        .all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{form}, {m}×{n}×{k}: {} threads differ from 1",
                    threads + 1
                );
            }
        }
    }
}

/// A product deep enough to be summed over two halves of its depth, added (β = 1) to
/// a view whose rows are apart, on one thread (the second half finishing into the
/// view) and on two (added at the end): both halves land where they belong, nothing
/// else changes, and the bits are the same.
#[test]
fn depth_halves_add_into_any_view() {
    let (m, n, k) = (40, 50, 700);
    let (a, b) = (matrix(m, k, 0.1), matrix(k, n, 0.4));
    let expected = reference(a.view(), b.view()).mapv(|x| x + 1.0);
    let results: Vec<Array2<f32>> = [1, 2]
        .into_iter()
        .map(|threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut wide = Array2::from_elem((m, n + 9), 1.0f32);
            pool.install(|| {
                matmul(
                    a.view(),
                    b.view(),
                    Write::Add,
                    wide.slice_mut(s![.., 4..4 + n]),
                );
            });
            let outside = wide
                .slice(s![.., ..4])
                .into_iter()
                .chain(wide.slice(s![.., 4 + n..]));
            assert!(outside.into_iter().all(|&x| x == 1.0), "{threads} threads");
            let inside = wide.slice(s![.., 4..4 + n]).to_owned();
            assert_close(&inside, &expected, k, "depth halves, β = 1");
            inside
        })
        .collect();
    assert!(results[0]
        .iter()
        .zip(&results[1])
        .all(|(x, y)| x.to_bits() == y.to_bits()));
}

/// `c ← c0 + a b` gives the bits of writing `c0` into `c` and accumulating onto it,
/// for a broadcast row, a transposed matrix and rows apart as `c0`, in every form and
/// on any number of threads.
#[test]
fn a_product_onto_a_start_is_the_start_accumulated() {
    let pools: Vec<_> = [1, 2, 3]
        .into_iter()
        .map(|threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
        })
        .collect();
    for (m, n, k) in [(5, 7, 9), (40, 3, 50), (200, 300, 300), (64, 100, 1000)] {
        let (a, b) = (matrix(m, k, 0.3), matrix(k, n, 0.5));
        let row = Array::from_shape_fn(n, |j| 0.5 - j as f32 * 0.01);
        let transposed = matrix(n, m, 0.9);
        let wide = matrix(m, n + 3, 0.7);
        for (what, c0) in [
            ("a broadcast row", row.broadcast((m, n)).unwrap()),
            ("a transposed matrix", transposed.t()),
            ("rows further apart than c's", wide.slice(s![.., ..n])),
        ] {
            // Standard layout, as `c`'s.
            let mut expected = Array2::zeros((m, n));
            expected.assign(&c0);
            matmul(a.view(), b.view(), Write::Add, expected.view_mut());
            for pool in &pools {
                let mut c = Array2::from_elem((m, n), f32::NAN);
                pool.install(|| matmul_onto(a.view(), b.view(), c0, c.view_mut()));
                assert!(
                    c.iter()
                        .zip(&expected)
                        .all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{m}×{n}×{k} onto {what}, {} threads",
                    pool.current_num_threads()
                );
            }
        }
    }
}

#[test]
fn f64_goes_through_ndarray() {
    let a = Array2::from_shape_fn((3, 4), |(i, j)| (i + 2 * j) as f64);
    let b = Array2::from_shape_fn((4, 2), |(i, j)| (i * j) as f64 - 1.0);
    let mut c = Array2::zeros((3, 2));
    matmul(a.view(), b.view(), Write::Over, c.view_mut());
    assert_eq!(c, a.dot(&b));
}

#[test]
#[should_panic(expected = "cannot multiply 2×3 by 4×5")]
fn mismatched_shapes_panic() {
    matmul(
        Array2::<f32>::zeros((2, 3)).view(),
        Array2::zeros((4, 5)).view(),
        Write::Over,
        Array2::zeros((2, 5)).view_mut(),
    );
}
