//! Matrix products for the layers: `C ← β C + A B`, without allocating.
//!
//! A training step must not allocate once its buffers exist, and the usual GEMMs
//! (matrixmultiply behind ndarray, the `gemm` crate) allocate packing buffers on every
//! call. So this module has its own, in three forms, chosen by the shape:
//!
//! - **packed form** ([`packed`]), when all three dimensions are at least
//!   [`PACKED_MIN`]: the operands are copied into panels in buffers each thread keeps
//!   from one product to the next, and an 8 × 32 (AVX-512) or 6 × 16 (AVX2) tile of `C`
//!   is accumulated in registers. This is where large batches spend their time, at
//!   75–85% of the FMA peak on this project's machine.
//! - **broadcast form** ([`unpacked`]), for small products with any `A` and a `B` whose
//!   rows are contiguous (`Δ W` and `Δᵀ A` at small batches, a convolution's `W cols`):
//!   each element of `A` is broadcast and multiplied into a contiguous run of a row of
//!   `B`, reading the operands where they lie;
//! - **dot form** ([`unpacked`]), for small products with `A`'s rows and `B`'s columns
//!   contiguous (`A Wᵀ` at batch 1): each element of `C` is a dot product of two
//!   contiguous rows.
//!
//! On x86-64 the instruction set is checked once at run time; elsewhere the same loops
//! run on scalars. Element types other than `f32` (the `f64` of the gradient checks) and
//! unusual layouts go to ndarray's `general_mat_mul`, which may allocate.

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2, Axis};

use crate::parallel::{join, worth_splitting};
use crate::scalar::{add_into, Scalar};
use crate::scratch::{with_scratch, Space, ThreadScratch};

mod packed;
#[cfg(target_arch = "x86_64")]
mod tile;
mod unpacked;

use unpacked::{MR, NR};

/// What a product does with what `c` held: [`Write::Over`] it, `c ← a b`, or
/// [`Write::Add`] to it, `c ← c + a b`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    /// `c ← a b`.
    Over,
    /// `c ← c + a b`.
    Add,
}

/// `c ← a b` or `c ← c + a b`, as `write` says.
///
/// # Panics
///
/// If the shapes do not match: `a` is m × k, `b` is k × n and `c` is m × n.
pub fn matmul<T: Scalar>(
    a: ArrayView2<'_, T>,
    b: ArrayView2<'_, T>,
    write: Write,
    c: ArrayViewMut2<'_, T>,
) {
    let ((m, k), n) = (a.dim(), b.ncols());
    matmul_planned(Plan::new::<T>(m, n, k), a, b, write, c);
}

/// `c ← c0 + a b`, where `c0` has `c`'s shape: a bias broadcast over the rows, say
/// (`bias.broadcast(c.dim())`). The same bits as writing `c0` into `c` and accumulating
/// the product onto it, without that pass over `c` where the packed form multiplies.
///
/// # Panics
///
/// If the shapes do not match: `a` is m × k, `b` is k × n and `c` and `c0` are m × n.
pub(crate) fn matmul_onto<T: Scalar>(
    a: ArrayView2<'_, T>,
    b: ArrayView2<'_, T>,
    c0: ArrayView2<'_, T>,
    c: ArrayViewMut2<'_, T>,
) {
    let ((m, k), n) = (a.dim(), b.ncols());
    check_shapes(&a, &b, &c);
    assert!(
        c0.dim() == c.dim(),
        "matmul: a start of {:?} for a product of {:?}",
        c0.dim(),
        c.dim()
    );
    split(a, b, Onto::Other(c0), c, Plan::new::<T>(m, n, k));
}

/// What a product is added to: nothing (β = 0), `C` itself (β = 1), or another matrix of
/// `C`'s shape ([`matmul_onto`]).
#[derive(Clone, Copy)]
enum Onto<'a, T> {
    Zero,
    Itself,
    Other(ArrayView2<'a, T>),
}

impl<T: Scalar> Onto<'_, T> {
    /// The parts of `Other` on either side of row (`Axis(0)`) or column (`Axis(1)`) `at`.
    fn split_at(self, axis: Axis, at: usize) -> (Self, Self) {
        match self {
            Onto::Other(c0) => {
                let (first, second) = c0.split_at(axis, at);
                (Onto::Other(first), Onto::Other(second))
            }
            other => (other, other),
        }
    }
}

/// How a product is computed: decided once from its whole shape, so that however it is
/// cut among threads no element's order of summation changes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    /// Whether the packed form multiplies it.
    packed: bool,
    /// How many pieces it may still be cut into. The unpacked forms read the operands
    /// where they lie, so they may be cut as finely as suits the threads' balance; the
    /// packed form at most once per thread, since every piece packs its own copy of the
    /// operand it shares with the other pieces.
    pieces: usize,
    /// Whether it is summed over two halves of its depth, the second added to the first
    /// ([`depth_halves`]).
    depth_halves: bool,
}

impl Plan {
    /// The plan for an `m × k` by `k × n` product of `T`.
    pub(crate) fn new<T: Scalar>(m: usize, n: usize, k: usize) -> Self {
        let packed = T::F32_KERNELS && wants_packing(m, n, k);
        let pieces = if packed {
            crate::parallel::threads()
        } else {
            usize::MAX
        };
        let depth_halves = packed && k >= DEPTH_HALVES_MIN && m * n <= PARTIAL_MAX;
        Plan {
            packed,
            pieces,
            depth_halves,
        }
    }

    /// The same plan, run on the calling thread alone: for a part of a product that the
    /// caller has already shared among threads.
    pub(crate) fn on_this_thread(self) -> Self {
        Plan { pieces: 1, ..self }
    }

    /// The plans of the two halves of a product cut in two, sharing its pieces.
    fn halves(self) -> (Self, Self) {
        (
            Plan {
                pieces: self.pieces.div_ceil(2),
                ..self
            },
            Plan {
                pieces: (self.pieces / 2).max(1),
                ..self
            },
        )
    }
}

/// [`matmul`] by a plan made for the whole product this is a part of (its rows or
/// columns, cut by the caller), so that every part sums as the whole would.
pub(crate) fn matmul_planned<T: Scalar>(
    plan: Plan,
    a: ArrayView2<'_, T>,
    b: ArrayView2<'_, T>,
    write: Write,
    c: ArrayViewMut2<'_, T>,
) {
    check_shapes(&a, &b, &c);
    let onto = match write {
        Write::Over => Onto::Zero,
        Write::Add => Onto::Itself,
    };
    split(a, b, onto, c, plan);
}

/// Panics unless `a` is m × k, `b` k × n and `c` m × n.
fn check_shapes<T>(a: &ArrayView2<'_, T>, b: &ArrayView2<'_, T>, c: &ArrayViewMut2<'_, T>) {
    let ((m, k), (k2, n)) = (a.dim(), b.dim());
    assert!(
        k == k2 && c.dim() == (m, n),
        "matmul: cannot multiply {m}×{k} by {k2}×{n} into {:?}",
        c.dim()
    );
}

/// Whether the packed form should multiply an `m × k` matrix by a `k × n` one: when
/// every dimension is large enough for copying the operands into panels to pay.
fn wants_packing(m: usize, n: usize, k: usize) -> bool {
    m >= PACKED_MIN && n >= PACKED_MIN && k >= PACKED_MIN
}

/// The smallest dimension the packed form is used for.
const PACKED_MIN: usize = 32;

/// The scratch a thread keeps for an `m × k` by `k × n` product, at most, on any CPU;
/// `None` stands for the batch, which may be as large as the caller likes. Packed
/// products fill a panel of `A` (at most `MC` rows) and one of `B` (at most `NC`
/// columns), `KC` depths at a time and rounded up to the micro-kernel's tile; those deep
/// enough and small enough to be summed in two halves also keep the second half's sum.
pub(crate) const fn product_scratch(
    m: Option<usize>,
    n: Option<usize>,
    k: Option<usize>,
) -> ThreadScratch {
    const fn at_least(d: Option<usize>, min: usize) -> bool {
        match d {
            Some(d) => d >= min,
            None => true,
        }
    }
    let mut need = ThreadScratch::NONE;
    if !(at_least(m, PACKED_MIN) && at_least(n, PACKED_MIN) && at_least(k, PACKED_MIN)) {
        return need;
    }
    if at_least(k, DEPTH_HALVES_MIN) {
        let results = match (m, n) {
            (Some(m), Some(n)) => m * n,
            // As many samples as fit.
            _ => PARTIAL_MAX,
        };
        if results <= PARTIAL_MAX {
            need.partial = results;
        }
    }
    let depth = match k {
        Some(k) if k < packed::KC => k,
        _ => packed::KC,
    };
    let mut i = 0;
    while i < packed::BLOCKINGS.len() {
        let (mr, nr, mc, nc) = packed::BLOCKINGS[i];
        let rows = match m {
            Some(m) if m.next_multiple_of(mr) < mc => m.next_multiple_of(mr),
            _ => mc,
        };
        let cols = match n {
            Some(n) if n.next_multiple_of(nr) < nc => n.next_multiple_of(nr),
            _ => nc,
        };
        let other = ThreadScratch {
            packed_a: depth * rows,
            packed_b: depth * cols,
            ..ThreadScratch::NONE
        };
        need = need.max(other);
        i += 1;
    }
    need
}

/// The least depth of a packed product summed in two halves, and the most elements of
/// its result (the scratch its second half is summed into: 512 KiB): a deep product
/// with a small result shares better among threads by depth than by rows (W1's forward
/// product at batch 1024 is the case that sets the bound).
const DEPTH_HALVES_MIN: usize = 512;
const PARTIAL_MAX: usize = 1 << 17;

/// `c ← onto + a b` as two sums over halves of the depth: the first into `c`, the second
/// into scratch, added to `c` at the end; side by side on two threads, or one after the
/// other ([`finish_into`]), in the same order either way. For a deep product with a small
/// result (a batch of 128 times W1's 784 × 128 weights), whose cut by rows or by columns
/// would have each piece pack the whole of one operand, transposed: half the work again.
fn depth_halves<T: Scalar>(
    a: ArrayView2<'_, T>,
    b: ArrayView2<'_, T>,
    onto: Onto<'_, T>,
    mut c: ArrayViewMut2<'_, T>,
    plan: Plan,
) {
    let ((m, k), n) = (a.dim(), b.ncols());
    let mid = k / 2;
    let (first, second) = Plan {
        depth_halves: false,
        ..plan
    }
    .halves();
    with_scratch(Space::Partial, m * n, |partial| {
        let mut partial = ArrayViewMut2::from_shape((m, n), partial).expect("m × n scratch");
        let (a_first, a_second) = a.split_at(Axis(1), mid);
        let (b_first, b_second) = b.split_at(Axis(0), mid);
        let (c_view, partial_view) = (c.view_mut(), partial.view_mut());
        if plan.pieces >= 2 && worth_splitting(m * n * k) {
            join(
                move || split(a_first, b_first, onto, c_view, first),
                move || split(a_second, b_second, Onto::Zero, partial_view, second),
            );
        } else {
            split(a_first, b_first, onto, c_view, first);
            if finish_into(a_second, b_second, partial_view, c.view_mut()) {
                return;
            }
            split(a_second, b_second, Onto::Zero, partial.view_mut(), second);
        }
        add_into(c, partial.view());
    });
}

/// The second of [`depth_halves`] on one thread, if the packed form can do it: summed
/// into `partial` until its last depth block, whose sums are added to `c` as they are
/// finished rather than stored: the additions `add_into` would make, in the same order,
/// without writing the half out and reading it back. `false` if nothing was done.
fn finish_into<T: Scalar>(
    a: ArrayView2<'_, T>,
    b: ArrayView2<'_, T>,
    mut partial: ArrayViewMut2<'_, T>,
    mut c: ArrayViewMut2<'_, T>,
) -> bool {
    let shape = (a.nrows(), b.ncols());
    assert!(
        a.ncols() == b.nrows() && partial.dim() == shape && c.dim() == shape,
        "finish_into: shapes do not match"
    );
    if !T::F32_KERNELS || partial.strides()[1] != 1 || c.strides()[1] != 1 {
        return false;
    }
    let product = Product::of(&a, &b, false, &mut partial);
    let finish = packed::Finish {
        out: c.as_mut_ptr().cast(),
        row_stride: c.strides()[0],
    };
    // SAFETY: T is f32; the operands, `partial` and `c` are views of the recorded shapes
    // and strides, `partial` and `c` have unit column stride and, borrowed mutably,
    // overlap neither operand nor each other.
    unsafe { product.run_packed(None, Some(finish)) }
}

/// The product in two halves side by side while the work is worth sharing among threads
/// and `plan` allows more pieces.
///
/// Cuts fall on multiples of the tiles (of the AVX2 tiles, for an unpacked product), and each
/// half keeps at least one whole tile of rows or columns, so no piece is empty or one
/// column wide (a width of one would change an unpacked product's form). Where a cut falls
/// changes no bit: every element is summed in the same order in any piece.
fn split<T: Scalar>(
    a: ArrayView2<'_, T>,
    b: ArrayView2<'_, T>,
    mut onto: Onto<'_, T>,
    mut c: ArrayViewMut2<'_, T>,
    plan: Plan,
) {
    if plan.depth_halves {
        return depth_halves(a, b, onto, c, plan);
    }
    let ((m, k), n) = (a.dim(), b.ncols());
    let (rows, cols) = if plan.packed {
        (packed::SPLIT_ROWS, packed::SPLIT_COLS)
    } else {
        (MR, NR)
    };
    let (can_cut_rows, can_cut_cols) = (m >= 2 * rows, n >= 2 * cols);
    if plan.pieces >= 2 && worth_splitting(m * n * k) && (can_cut_rows || can_cut_cols) {
        // By rows, unless C has few of them or a cut between columns is better balanced
        // (the cuts fall on tiles, so 128 rows cut at multiples of 24 leave 48 and 80).
        let (row_cut, col_cut) = (m / 2 / rows * rows, n / 2 / cols * cols);
        let balanced_cols = (n - col_cut) * m < (m - row_cut) * n;
        let by_rows = can_cut_rows
            && (!can_cut_cols || !balanced_cols && (m >= n || !plan.packed && m >= 8 * MR));
        let (first, second) = plan.halves();
        if by_rows {
            let (a_top, a_bottom) = a.split_at(Axis(0), row_cut);
            let (c_top, c_bottom) = c.split_at(Axis(0), row_cut);
            let (onto_top, onto_bottom) = onto.split_at(Axis(0), row_cut);
            join(
                || split(a_top, b, onto_top, c_top, first),
                || split(a_bottom, b, onto_bottom, c_bottom, second),
            );
        } else {
            let (b_left, b_right) = b.split_at(Axis(1), col_cut);
            let (c_left, c_right) = c.split_at(Axis(1), col_cut);
            let (onto_left, onto_right) = onto.split_at(Axis(1), col_cut);
            join(
                || split(a, b_left, onto_left, c_left, first),
                || split(a, b_right, onto_right, c_right, second),
            );
        }
        return;
    }
    if plan.packed && T::F32_KERNELS && c.strides()[1] == 1 {
        // The packed form starts each element from `c0` itself where `c0`'s rows are
        // contiguous (a broadcast bias's are), else from `c` holding a copy of it.
        let (accumulate, start) = match onto {
            Onto::Zero => (false, None),
            Onto::Itself => (true, None),
            Onto::Other(c0) if c0.strides()[1] == 1 => (false, Some(Operand::of(&c0))),
            Onto::Other(c0) => {
                c.assign(&c0);
                onto = Onto::Itself;
                (true, None)
            }
        };
        let product = Product::of(&a, &b, accumulate, &mut c);
        // SAFETY: T is f32; the operands, `start` and `c` are views of the recorded
        // shapes and strides, `c` and `start` have unit column stride, and `c`, borrowed
        // mutably, overlaps none of them.
        if unsafe { product.run_packed(start, None) } {
            return;
        }
    }
    // The other forms add the product to `c`.
    let beta = match onto {
        Onto::Zero => T::zero(),
        Onto::Itself => T::one(),
        Onto::Other(c0) => {
            c.assign(&c0);
            T::one()
        }
    };
    if T::F32_KERNELS && (c.strides()[1] == 1 || n <= 1) {
        let product = Product::of(&a, &b, beta == T::one(), &mut c);
        if let Some(form) = product.form() {
            // SAFETY: as above, with `c`'s column stride checked by `form`'s callers.
            unsafe { product.run(form) };
            return;
        }
    }
    general_mat_mul(T::one(), &a, &b, beta, &mut c);
}

/// A matrix operand: where element (0, 0) is and how far apart rows and columns are.
#[derive(Clone, Copy)]
struct Operand {
    ptr: *const f32,
    row_stride: isize,
    col_stride: isize,
}

impl Operand {
    /// The operand of a view whose elements are `f32` (checked by the caller).
    fn of<T: Scalar>(view: &ArrayView2<'_, T>) -> Self {
        debug_assert!(T::F32_KERNELS);
        Operand {
            ptr: view.as_ptr().cast(),
            row_stride: view.strides()[0],
            col_stride: view.strides()[1],
        }
    }

    /// Element (i, j).
    ///
    /// # Safety
    ///
    /// (i, j) must be inside the matrix.
    #[inline(always)]
    unsafe fn at(self, i: usize, j: usize) -> *const f32 {
        self.ptr
            .offset(i as isize * self.row_stride + j as isize * self.col_stride)
    }
}

/// One product `C ← [C +] A B` with all its dimensions and strides.
#[derive(Clone, Copy)]
struct Product {
    m: usize,
    n: usize,
    k: usize,
    a: Operand,
    b: Operand,
    c: *mut f32,
    c_row_stride: isize,
    accumulate: bool,
}

impl Product {
    /// `c ← [c +] a b` for views whose elements are `f32` (checked by the caller).
    fn of<T: Scalar>(
        a: &ArrayView2<'_, T>,
        b: &ArrayView2<'_, T>,
        accumulate: bool,
        c: &mut ArrayViewMut2<'_, T>,
    ) -> Self {
        Product {
            m: a.nrows(),
            n: b.ncols(),
            k: a.ncols(),
            a: Operand::of(a),
            b: Operand::of(b),
            c: c.as_mut_ptr().cast(),
            c_row_stride: c.strides()[0],
            accumulate,
        }
    }

    /// The packed form with the widest micro-kernel the CPU runs, starting from `start`
    /// and finishing into `finish` as [`Product::packed`] says; `false` if it has none
    /// (and nothing was done).
    ///
    /// # Safety
    ///
    /// As [`Product::run`] and [`Product::packed`], with `C` of unit column stride.
    unsafe fn run_packed(self, start: Option<Operand>, finish: Option<packed::Finish>) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            if crate::isa::avx512() {
                self.packed_avx512(start, finish);
                return true;
            }
            if crate::isa::avx2() {
                self.packed_avx2(start, finish);
                return true;
            }
        }
        false
    }

    #[inline(always)]
    unsafe fn c_at(self, i: usize, j: usize) -> *mut f32 {
        self.c.offset(i as isize * self.c_row_stride + j as isize)
    }
}

#[cfg(test)]
mod tests;
