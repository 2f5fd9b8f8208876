//! Matrix-product engines: the seam between a synaptic layer and whatever computes its integer
//! accumulators.
//!
//! A 1×1 convolution (SepConv pointwise, q/k/v projections, the MLP, the head) and both products
//! of a linear-attention head are matrix products `C = A·B` with spike counts `0..=D` as `A`
//! (`M×K`) and integer `B` (`K×N`), giving exact `i32` accumulators `C` (`M×N`). The session
//! asks its [`Engine`] whether it [`takes`](Engine::takes) each such product; if so the engine
//! computes `C` and the session requantizes each row on the CPU exactly as its own kernels
//! would, so results are bit-identical whichever engine ran. Products an engine declines (and
//! every other op) run on the session's CPU kernels.

/// A read-only strided matrix: element `(r, c)` is `data[offset + r·row_stride + c·col_stride]`.
/// Bounds are checked once by [`View::new`], so [`View::at`] cannot read outside `data`.
#[derive(Clone, Copy, Debug)]
pub struct View<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    offset: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a, T: Copy> View<'a, T> {
    /// A view, or `None` if an element would lie outside `data`.
    pub fn new(
        data: &'a [T],
        [rows, cols]: [usize; 2],
        offset: usize,
        [row_stride, col_stride]: [usize; 2],
    ) -> Option<Self> {
        if rows > 0 && cols > 0 {
            let last = (rows - 1)
                .checked_mul(row_stride)?
                .checked_add((cols - 1).checked_mul(col_stride)?)?
                .checked_add(offset)?;
            if last >= data.len() {
                return None;
            }
        }
        Some(View {
            data,
            rows,
            cols,
            offset,
            row_stride,
            col_stride,
        })
    }

    /// The first `rows·cols` values of `data`, row-major.
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Option<Self> {
        Self::new(data, [rows, cols], 0, [cols, 1])
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Element `(r, c)`; `r < rows` and `c < cols`.
    #[inline(always)]
    pub fn at(&self, r: usize, c: usize) -> T {
        debug_assert!(r < self.rows && c < self.cols);
        self.data[self.offset + r * self.row_stride + c * self.col_stride]
    }

    /// Row `r` as a slice, when rows are contiguous.
    #[inline]
    pub fn row(&self, r: usize) -> Option<&'a [T]> {
        if self.col_stride != 1 || r >= self.rows {
            return None;
        }
        let start = self.offset + r * self.row_stride;
        self.data.get(start..start + self.cols)
    }
}

/// The right-hand operand `B` (`K×N`) of a product.
#[derive(Clone, Copy, Debug)]
pub enum Operand<'a> {
    /// Stored int8 weights.
    I8(View<'a, i8>),
    /// Stored int16 weights.
    I16(View<'a, i16>),
    /// Spike counts `0..=D` (attention's `v`).
    Spikes(View<'a, u8>),
    /// Exact integer intermediates (attention's `kᵀv`, all `≥ 0`).
    I32(View<'a, i32>),
}

impl Operand<'_> {
    pub fn rows(&self) -> usize {
        match self {
            Operand::I8(v) => v.rows(),
            Operand::I16(v) => v.rows(),
            Operand::Spikes(v) => v.rows(),
            Operand::I32(v) => v.rows(),
        }
    }

    pub fn cols(&self) -> usize {
        match self {
            Operand::I8(v) => v.cols(),
            Operand::I16(v) => v.cols(),
            Operand::Spikes(v) => v.cols(),
            Operand::I32(v) => v.cols(),
        }
    }

    /// Element `(r, c)` as `i32`.
    #[inline(always)]
    pub fn at(&self, r: usize, c: usize) -> i32 {
        match self {
            Operand::I8(v) => v.at(r, c) as i32,
            Operand::I16(v) => v.at(r, c) as i32,
            Operand::Spikes(v) => v.at(r, c) as i32,
            Operand::I32(v) => v.at(r, c),
        }
    }
}

/// Which product of a node this is. Engines key what they prepared at load (packed weights,
/// device contexts) on `(node, role)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// A 1×1 convolution or linear layer: `A` = input spikes (pixels × input channels),
    /// `B` = the node's weights (input × output channels).
    Synapse,
    /// Linear attention head `head`, first product: `A = kᵀ` (d × tokens), `B = v`
    /// (tokens × dv spike counts), `C = kᵀv`.
    KeyValue { head: u16 },
    /// Linear attention head `head`, second product: `A = q` (tokens × d), `B = kᵀv`
    /// (d × dv, `i32 ≥ 0`).
    Query { head: u16 },
}

/// One product `C = A·B` a layer asks for.
#[derive(Clone, Copy, Debug)]
pub struct MatMul<'a> {
    /// Index of the node in the graph.
    pub node: u16,
    pub role: Role,
    /// Spike counts, `M×K`.
    pub a: View<'a, u8>,
    /// `K×N`.
    pub b: Operand<'a>,
}

impl MatMul<'_> {
    pub fn m(&self) -> usize {
        self.a.rows()
    }
    pub fn k(&self) -> usize {
        self.a.cols()
    }
    pub fn n(&self) -> usize {
        self.b.cols()
    }
}

/// Why an engine could not compute a product it took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EngineError {
    /// `A`'s columns do not match `B`'s rows, or the product is not the one prepared.
    Shape,
    /// The row buffer is shorter than `N`.
    RowBuffer { needed: usize, found: usize },
    /// An operand value does not fit the device's integer type.
    Range,
    /// The device or its library returned an error code.
    Device { code: i32 },
}

impl core::fmt::Display for EngineError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EngineError::Shape => write!(f, "product shape does not match what was prepared"),
            EngineError::RowBuffer { needed, found } => {
                write!(f, "row buffer holds {found} values, product needs {needed}")
            }
            EngineError::Range => write!(f, "operand value outside the device's integer range"),
            EngineError::Device { code } => write!(f, "device error {code}"),
        }
    }
}

/// Computes the matrix products of synaptic layers.
pub trait Engine: Sync {
    /// Whether this engine computes `p` (else the session's CPU kernels do). Must depend only
    /// on the node, role and shapes, not on the values.
    fn takes(&self, p: &MatMul<'_>) -> bool;

    /// Computes `C = A·B` with wrapping `i32` arithmetic, handing every row `m` of `C`, in
    /// order, to `out(m, row)` (`row` has `N` values). `row` is scratch of at least `N` values.
    fn matmul(
        &self,
        p: &MatMul<'_>,
        row: &mut [i32],
        out: &mut dyn FnMut(usize, &[i32]),
    ) -> Result<(), EngineError>;
}

/// The CPU: the session's own kernels (spike-driven or dense reference, split over the
/// executor's workers). It takes no product in a session, so those kernels run; called
/// directly, it computes a product with [`spike_matmul`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Cpu;

impl Engine for Cpu {
    fn takes(&self, _: &MatMul<'_>) -> bool {
        false
    }

    fn matmul(
        &self,
        p: &MatMul<'_>,
        row: &mut [i32],
        out: &mut dyn FnMut(usize, &[i32]),
    ) -> Result<(), EngineError> {
        spike_matmul(p, row, out)
    }
}

/// A product computed spike-driven on the CPU: every binary spike of `A` adds one row of `B`.
/// The fallback of device engines and the reference their tests compare with.
pub fn spike_matmul(
    p: &MatMul<'_>,
    row: &mut [i32],
    out: &mut dyn FnMut(usize, &[i32]),
) -> Result<(), EngineError> {
    let (m, k, n) = (p.m(), p.k(), p.n());
    if p.b.rows() != k {
        return Err(EngineError::Shape);
    }
    let found = row.len();
    let acc = row
        .get_mut(..n)
        .ok_or(EngineError::RowBuffer { needed: n, found })?;
    for r in 0..m {
        acc.fill(0);
        for i in 0..k {
            for _ in 0..p.a.at(r, i) {
                add_row(acc, &p.b, i);
            }
        }
        out(r, acc);
    }
    Ok(())
}

/// `acc += B[i, ..]`.
#[inline(always)]
fn add_row(acc: &mut [i32], b: &Operand<'_>, i: usize) {
    if let Operand::I8(v) = b {
        if let Some(w) = v.row(i) {
            for (a, &x) in acc.iter_mut().zip(w) {
                *a = a.wrapping_add(x as i32);
            }
            return;
        }
    }
    for (j, a) in acc.iter_mut().enumerate() {
        *a = a.wrapping_add(b.at(i, j));
    }
}
