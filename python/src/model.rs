//! Converting checkpoints, inspecting blobs, running and evaluating models from Python.
//! Work happens with the GIL released; inputs are copied once (they are small next to the
//! model's own tensors), logits and statistics come back as new numpy arrays and dicts.

use std::path::PathBuf;
use std::sync::Arc;

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use sdt_convert::checkpoint::{Checkpoint, Tensor};
use sdt_convert::meta::ClassNames;
use sdt_convert::verify::{evaluate, quantize_input, QuantizedInput};
use sdt_convert::{ConvertError, MetaOptions, PackOptions};
use sdt_core::graph::TensorKind;
use sdt_core::{Executor, Input, Kernel, Model as CoreModel, Sequential, Session, Stats};

use crate::errors::{self, InputError};
use crate::host::{AlignedBlob, ThreadPool};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Blob>()?;
    m.add_class::<Model>()?;
    m.add_function(wrap_pyfunction!(convert, m)?)?;
    Ok(())
}

/// A validated model blob (the bytes `sdt-convert pack` writes), 16-byte aligned in memory.
#[pyclass(frozen, module = "sdt._sdt")]
pub struct Blob {
    blob: Arc<AlignedBlob>,
}

impl Blob {
    fn new(blob: AlignedBlob) -> PyResult<Self> {
        blob.model().map_err(errors::core)?;
        Ok(Blob {
            blob: Arc::new(blob),
        })
    }
}

#[pymethods]
impl Blob {
    /// Reads and validates a blob file.
    #[staticmethod]
    fn load(path: PathBuf) -> PyResult<Self> {
        Blob::new(AlignedBlob::read(&path).map_err(errors::host)?)
    }

    /// Validates blob bytes (copied into an aligned buffer).
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        Blob::new(AlignedBlob::from_bytes(data))
    }

    /// Writes the blob to `path` (through a temporary file and a rename).
    fn save(&self, path: PathBuf) -> PyResult<()> {
        sdt_host::fs::write_atomic(&path, self.blob.bytes()).map_err(|e| errors::convert(e.into()))
    }

    /// The blob's bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.blob.bytes())
    }

    fn __len__(&self) -> usize {
        self.blob.bytes().len()
    }

    /// Architecture, sizes and arena of the blob (the JSON of `sdt-convert inspect`); with
    /// `layers=True` also a `"layers"` list, one record per node.
    #[pyo3(signature = (layers = false))]
    fn inspect<'py>(&self, py: Python<'py>, layers: bool) -> PyResult<Bound<'py, PyAny>> {
        let model = self.blob.model().map_err(errors::core)?;
        let mut summary = sdt_convert::inspect::summary(&model, self.blob.bytes().len())
            .map_err(errors::convert)?;
        if layers {
            let rows = sdt_convert::inspect::layers(&model);
            summary["layers"] = serde_json::to_value(rows)
                .map_err(|e| errors::convert(ConvertError::Invalid(e.to_string())))?;
        }
        json_to_py(py, &summary)
    }

    fn __repr__(&self) -> String {
        match self.blob.model() {
            Ok(m) => format!(
                "Blob({} bytes, input {:?}, {} classes, {} nodes)",
                self.blob.bytes().len(),
                input_shape(&m),
                m.classes(),
                m.nodes().len()
            ),
            Err(e) => format!("Blob(invalid: {e})"),
        }
    }
}

/// Converts a checkpoint (.pth or .safetensors) into a blob; every option of
/// `sdt-convert pack`. Writes the blob to `output` too when given; calls `progress(stage)`
/// with the name of each step as it starts.
#[pyfunction]
#[pyo3(signature = (checkpoint, *, weight_bits = 8, input_size = 224, heads = 8, d = 4,
    input_absmax = 3.0, input_bits = 8, calibration = None, spike_bias = 0.0, output = None,
    progress = None, name = None, class_names = None, image_mean = None, image_std = None))]
#[allow(clippy::too_many_arguments)]
fn convert(
    py: Python<'_>,
    checkpoint: PathBuf,
    weight_bits: u8,
    input_size: usize,
    heads: usize,
    d: u8,
    input_absmax: f32,
    input_bits: u8,
    calibration: Option<PathBuf>,
    spike_bias: f64,
    output: Option<PathBuf>,
    progress: Option<Py<PyAny>>,
    name: Option<String>,
    class_names: Option<Vec<String>>,
    image_mean: Option<Vec<f32>>,
    image_std: Option<Vec<f32>>,
) -> PyResult<Blob> {
    if image_mean.is_some() != image_std.is_some() {
        return Err(errors::convert(ConvertError::Invalid(
            "image_mean and image_std go together".into(),
        )));
    }
    let opt = PackOptions {
        weight_bits,
        input_size,
        heads,
        d,
        input_absmax,
        input_bits,
        calibration,
        spike_bias,
        meta: MetaOptions {
            name,
            class_names: class_names.map(ClassNames),
            image_mean,
            image_std,
            ..MetaOptions::default()
        },
    };
    // `progress(stage)` runs with the GIL taken back for the call; its errors are printed
    // by Python (unraisable) rather than stopping the conversion.
    let mut report = |stage: &str| {
        if let Some(cb) = &progress {
            Python::attach(|py| {
                if let Err(e) = cb.call1(py, (stage,)) {
                    e.write_unraisable(py, None);
                }
            });
        }
    };
    let blob = py
        .detach(|| {
            let (_, _, blob) = sdt_convert::pack_with_progress(&checkpoint, &opt, &mut report)?;
            if let Some(out) = &output {
                report("writing the blob");
                sdt_host::fs::write_atomic(out, blob.bytes())?;
            }
            Ok::<_, ConvertError>(blob)
        })
        .map_err(errors::convert)?;
    Blob::new(blob)
}

fn input_shape(m: &CoreModel<'_>) -> (u16, u16, u16) {
    let t = m.tensor(m.graph().input);
    (t.h, t.w, t.c)
}

/// Inputs of one call: quantized integers (HWC) or float images (CHW) to quantize.
enum Batch {
    I8(Vec<i8>),
    I16(Vec<i16>),
    F32(Vec<f32>),
}

impl Batch {
    /// Reads a numpy array of `int8`, `int16`, `float32` or `float64` values; returns the batch,
    /// its number of inputs and whether it was a single input (no batch axis).
    fn from_numpy(x: &Bound<'_, PyAny>, per: usize) -> PyResult<(Batch, usize, bool)> {
        fn flat<T: numpy::Element + Copy>(a: PyReadonlyArrayDyn<'_, T>) -> (Vec<T>, Vec<usize>) {
            (a.as_array().iter().copied().collect(), a.shape().to_vec())
        }
        let (batch, shape) = if let Ok(a) = x.extract::<PyReadonlyArrayDyn<i8>>() {
            let (v, s) = flat(a);
            (Batch::I8(v), s)
        } else if let Ok(a) = x.extract::<PyReadonlyArrayDyn<i16>>() {
            let (v, s) = flat(a);
            (Batch::I16(v), s)
        } else if let Ok(a) = x.extract::<PyReadonlyArrayDyn<f32>>() {
            let (v, s) = flat(a);
            (Batch::F32(v), s)
        } else if let Ok(a) = x.extract::<PyReadonlyArrayDyn<f64>>() {
            let (v, s) = flat(a);
            (Batch::F32(v.into_iter().map(|v| v as f32).collect()), s)
        } else {
            return Err(InputError::new_err(
                "input must be a numpy array of int8 / int16 (quantized, HWC) or float32 (CHW)",
            ));
        };
        let total: usize = shape.iter().product();
        // A leading axis whose rest is one input is a batch; otherwise the array is one input.
        let batched = shape.len() >= 2 && shape[1..].iter().product::<usize>() == per;
        if per == 0 || total == 0 || !(batched || total == per) {
            return Err(InputError::new_err(format!(
                "input has {total} values (shape {shape:?}); the model takes {per} per image"
            )));
        }
        let single = !batched;
        Ok((batch, total / per, single))
    }
}

/// Why a run on the worker side failed.
enum RunError {
    Core(sdt_core::Error),
    Convert(ConvertError),
    Input(String),
}

impl From<RunError> for PyErr {
    fn from(e: RunError) -> PyErr {
        match e {
            RunError::Core(e) => errors::core(e),
            RunError::Convert(e) => errors::convert(e),
            RunError::Input(text) => InputError::new_err(text),
        }
    }
}

pub(crate) fn kernel(name: &str) -> PyResult<Kernel> {
    match name {
        "spike" => Ok(Kernel::SpikeDriven),
        "dense" => Ok(Kernel::Dense),
        other => Err(InputError::new_err(format!(
            "kernel must be \"spike\" or \"dense\", not {other:?}"
        ))),
    }
}

/// Runs `f` with an executor of `threads` threads (the calling thread alone for 1).
fn with_executor<T>(
    threads: usize,
    f: impl FnOnce(&dyn Executor) -> Result<T, RunError>,
) -> Result<T, RunError> {
    if threads <= 1 {
        return f(&Sequential);
    }
    let pool = ThreadPool::new(threads)
        .map_err(|e| RunError::Convert(ConvertError::Invalid(format!("thread pool: {e}"))))?;
    f(&pool)
}

/// A model ready to run: `Model(blob)`.
#[pyclass(frozen, module = "sdt._sdt")]
pub struct Model {
    blob: Arc<AlignedBlob>,
}

impl Model {
    fn core(&self) -> PyResult<CoreModel<'_>> {
        self.blob.model().map_err(errors::core)
    }

    /// The blob, shared (for work with the GIL released).
    pub(crate) fn blob(&self) -> Arc<AlignedBlob> {
        self.blob.clone()
    }
}

#[pymethods]
impl Model {
    #[new]
    fn py_new(blob: &Blob) -> PyResult<Self> {
        blob.blob.model().map_err(errors::core)?;
        Ok(Model {
            blob: blob.blob.clone(),
        })
    }

    /// Input shape `(H, W, C)` of the quantized input.
    #[getter]
    fn input_shape(&self) -> PyResult<(u16, u16, u16)> {
        Ok(input_shape(&self.core()?))
    }

    /// `"int8"` or `"int16"`: the dtype of quantized inputs.
    #[getter]
    fn input_dtype(&self) -> PyResult<&'static str> {
        Ok(if self.core()?.wide_input() {
            "int16"
        } else {
            "int8"
        })
    }

    /// Real value of one input step (`x = scale * (q - zero_point)`).
    #[getter]
    fn input_scale(&self) -> PyResult<f32> {
        Ok(self.core()?.graph().input_spec.scale)
    }

    #[getter]
    fn classes(&self) -> PyResult<usize> {
        Ok(self.core()?.classes())
    }

    /// Class names stored in the blob, one per class (empty if it has none).
    #[getter]
    fn class_names(&self) -> PyResult<Vec<String>> {
        let m = self.core()?;
        Ok((0..m.classes())
            .map_while(|i| m.class_name(i).map(str::to_owned))
            .collect())
    }

    /// What the blob says about itself: `name`, `class_names` and `input` (event framing
    /// under `"Events"`, image normalization under `"Image"`, or `"Unspecified"`).
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &sdt_convert::meta::to_json(self.core()?.metadata()))
    }

    /// Fractional bits of the logits: `real = logit / 2**logits_frac`.
    #[getter]
    fn logits_frac(&self) -> PyResult<u8> {
        let m = self.core()?;
        Ok(match m.tensor(m.graph().logits).kind {
            TensorKind::Fixed { frac } => frac,
            _ => 0,
        })
    }

    /// Bytes of arena one session needs with `threads` workers.
    #[pyo3(signature = (threads = 1))]
    fn arena_bytes(&self, threads: usize) -> PyResult<usize> {
        sdt_core::arena_bytes(&self.core()?, threads.max(1)).map_err(errors::core)
    }

    /// Node names (module paths of the checkpoint), in execution order.
    #[getter]
    fn node_names(&self) -> PyResult<Vec<String>> {
        let m = self.core()?;
        Ok((0..m.nodes().len())
            .map(|i| m.node_name(i).to_owned())
            .collect())
    }

    /// Quantizes float images (CHW, or a batch NCHW) to the model's integer input (HWC).
    fn quantize<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let m = self.core()?;
        let per = m.input_len();
        let (batch, n, single) = Batch::from_numpy(x, per)?;
        let Batch::F32(data) = batch else {
            return Err(InputError::new_err("quantize takes float images"));
        };
        let (h, w, c) = input_shape(&m);
        let mut q8 = Vec::new();
        let mut q16 = Vec::new();
        for img in data.chunks_exact(per) {
            match quantize_input(&m, img).map_err(errors::convert)? {
                QuantizedInput::I8(v) => q8.extend(v),
                QuantizedInput::I16(v) => q16.extend(v),
            }
        }
        let shape: Vec<usize> = if single {
            vec![h as usize, w as usize, c as usize]
        } else {
            vec![n, h as usize, w as usize, c as usize]
        };
        Ok(if m.wide_input() {
            PyArray1::from_vec(py, q16).reshape(shape)?.into_any()
        } else {
            PyArray1::from_vec(py, q8).reshape(shape)?.into_any()
        })
    }

    /// Runs the model on one input or a batch.
    ///
    /// `x`: quantized `int8`/`int16` HWC values, or `float32` CHW images (quantized like
    /// `sdt-convert eval` does); a leading axis makes a batch. Returns the fixed-point `int32`
    /// logits (`(classes,)` or `(N, classes)`); with `stats=True`, `(logits, records)` where
    /// `records` is one dict per node with its counters summed over the batch.
    #[pyo3(signature = (x, *, kernel = "spike", threads = 1, stats = false))]
    fn run<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        kernel: &str,
        threads: usize,
        stats: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let kernel = self::kernel(kernel)?;
        let (per, classes) = {
            let m = self.core()?;
            (m.input_len(), m.classes())
        };
        let (batch, n, single) = Batch::from_numpy(x, per)?;
        let blob = self.blob.clone();
        let (logits, counted) =
            py.detach(move || run_batch(&blob, &batch, n, kernel, threads, stats))?;
        let logits = if single {
            PyArray1::from_vec(py, logits).into_any()
        } else {
            PyArray1::from_vec(py, logits)
                .reshape([n, classes])?
                .into_any()
        };
        match counted {
            Some(s) => {
                let records = self.records(py, &s)?;
                Ok((logits, records).into_pyobject(py)?.into_any())
            }
            None => Ok(logits),
        }
    }

    /// Accuracy, top-1 agreement and firing statistics on float images `(N, C, H, W)` with
    /// integer `labels` (N): the report of `sdt-convert eval` as a dict. `logits`, the float
    /// model's `(N, classes)` outputs, adds the agreement figures.
    #[pyo3(signature = (images, labels, *, logits = None, kernel = "spike", threads = 1, limit = None))]
    #[allow(clippy::too_many_arguments)]
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        images: PyReadonlyArrayDyn<'py, f32>,
        labels: &Bound<'py, PyAny>,
        logits: Option<PyReadonlyArrayDyn<'py, f32>>,
        kernel: &str,
        threads: usize,
        limit: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let kernel = self::kernel(kernel)?;
        let tensor = |shape: &[usize], data: Vec<f32>| Tensor {
            shape: shape.to_vec(),
            data,
        };
        let mut test = Checkpoint::default();
        let imgs = images.as_array();
        test.tensors.insert(
            "input".into(),
            tensor(imgs.shape(), imgs.iter().copied().collect()),
        );
        let labs = class_labels(labels)?;
        if labs.len() * self.core()?.input_len() != imgs.len() {
            return Err(InputError::new_err(format!(
                "{} labels for {} input values",
                labs.len(),
                imgs.len()
            )));
        }
        test.tensors
            .insert("label".into(), tensor(&[labs.len()], labs));
        if let Some(l) = logits {
            let l = l.as_array();
            test.tensors.insert(
                "logits".into(),
                tensor(l.shape(), l.iter().copied().collect()),
            );
        }
        let blob = self.blob.clone();
        let report = py.detach(move || {
            let model = blob.model().map_err(|e| RunError::Convert(e.into()))?;
            with_executor(threads, |exec| {
                evaluate(&model, &test, kernel, exec, limit, false).map_err(RunError::Convert)
            })
        })?;
        let value = serde_json::to_value(report)
            .map_err(|e| errors::convert(ConvertError::Invalid(e.to_string())))?;
        json_to_py(py, &value)
    }

    fn __repr__(&self) -> String {
        match self.blob.model() {
            Ok(m) => format!(
                "Model(input {:?} {}, {} classes, {} nodes)",
                input_shape(&m),
                if m.wide_input() { "int16" } else { "int8" },
                m.classes(),
                m.nodes().len()
            ),
            Err(e) => format!("Model(invalid: {e})"),
        }
    }
}

impl Model {
    /// One record per node: its counters over the runs, plus the firing rate of spike nodes.
    fn records<'py>(&self, py: Python<'py>, stats: &Stats) -> PyResult<Bound<'py, PyList>> {
        let m = self.core()?;
        let list = PyList::empty(py);
        for (i, node) in m.nodes().iter().enumerate() {
            let s = stats.nodes[i];
            let d = PyDict::new(py);
            d.set_item("node", i)?;
            d.set_item("name", m.node_name(i))?;
            d.set_item("block", node.block)?;
            d.set_item("sops", s.sops)?;
            d.set_item("macs", s.macs)?;
            d.set_item("spikes", s.spikes)?;
            d.set_item("nonzero", s.nonzero)?;
            d.set_item("sites", s.sites)?;
            d.set_item("energy_fj", s.energy_fj())?;
            d.set_item("runs", stats.runs)?;
            list.append(d)?;
        }
        Ok(list)
    }
}

/// Runs `n` inputs of `batch`; the logits of all, and the statistics if asked for.
fn run_batch(
    blob: &AlignedBlob,
    batch: &Batch,
    n: usize,
    kernel: Kernel,
    threads: usize,
    want_stats: bool,
) -> Result<(Vec<i32>, Option<Box<Stats>>), RunError> {
    let model = blob.model().map_err(|e| RunError::Convert(e.into()))?;
    let per = model.input_len();
    with_executor(threads, |exec| {
        let workers = exec.workers();
        let mut arena = vec![0u8; sdt_core::arena_bytes(&model, workers).map_err(RunError::Core)?];
        let mut session = Session::new(&model, &mut arena, workers).map_err(RunError::Core)?;
        // The batch's images run the same layers: their spike thresholds are built once.
        let mut kept = vec![0i32; sdt_core::kept_thresholds_len(&model)];
        session.keep_thresholds(&mut kept).map_err(RunError::Core)?;
        let mut stats = want_stats.then(Box::<Stats>::default);
        let mut logits = Vec::with_capacity(n * model.classes());
        for i in 0..n {
            let range = i * per..(i + 1) * per;
            let quantized;
            let input = match batch {
                Batch::I8(v) => Input::I8(&v[range]),
                Batch::I16(v) => Input::I16(&v[range]),
                Batch::F32(v) => {
                    quantized = quantize_input(&model, &v[range]).map_err(RunError::Convert)?;
                    quantized.as_input()
                }
            };
            session.set_input(input).map_err(|e| match e {
                sdt_core::Error::InputLength { .. } => RunError::Input(format!(
                    "the model takes {} input; convert the array (or pass float32 images)",
                    if model.wide_input() { "int16" } else { "int8" }
                )),
                e => RunError::Core(e),
            })?;
            session
                .run(kernel, exec, stats.as_deref_mut())
                .map_err(RunError::Core)?;
            logits.extend_from_slice(session.logits());
        }
        Ok((logits, stats))
    })
}

/// Class labels from a numpy array of any integer type (or floats holding integers).
fn class_labels(x: &Bound<'_, PyAny>) -> PyResult<Vec<f32>> {
    fn all<T: numpy::Element + Copy>(
        x: &Bound<'_, PyAny>,
        f: impl Fn(T) -> f32,
    ) -> Option<Vec<f32>> {
        let a = x.extract::<PyReadonlyArrayDyn<T>>().ok()?;
        let v = a.as_array().iter().map(|&v| f(v)).collect();
        Some(v)
    }
    all::<i64>(x, |v| v as f32)
        .or_else(|| all::<i32>(x, |v| v as f32))
        .or_else(|| all::<u8>(x, f32::from))
        .or_else(|| all::<i16>(x, f32::from))
        .or_else(|| all::<f32>(x, |v| v))
        .or_else(|| all::<f64>(x, |v| v as f32))
        .ok_or_else(|| InputError::new_err("labels must be a numpy array of class indices"))
}

/// A JSON value as plain Python objects (dict, list, int, float, str, bool, None).
pub(crate) fn json_to_py<'py>(
    py: Python<'py>,
    v: &serde_json::Value,
) -> PyResult<Bound<'py, PyAny>> {
    use serde_json::Value;
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => s.into_pyobject(py)?.into_any(),
        Value::Array(a) => {
            let list = PyList::empty(py);
            for item in a {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(o) => {
            let dict = PyDict::new(py);
            for (k, item) in o {
                dict.set_item(k, json_to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}
