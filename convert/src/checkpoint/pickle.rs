//! A safe interpreter for the subset of Python's pickle format that `torch.save` writes.
//!
//! Hand-written because serde-pickle cannot resolve torch's persistent ids and `REDUCE` calls,
//! and the torch-aware crates we looked at cannot hand back a pickled `argparse.Namespace`.
//! Nothing is ever imported or called: `GLOBAL` only records a name, and `REDUCE` is interpreted
//! for the few torch rebuild functions recognised by that name; any other call stays an opaque
//! [`Value::Object`].
//!
//! Values live in an arena and refer to each other by [`Id`], so memo reads (`BINGET`) share
//! instead of copying, and every opcode adds at most one value: memory stays linear in the input.

use std::collections::HashMap;

use super::dtype::DType;

/// Index of a value in [`Pickle::values`].
pub(crate) type Id = usize;

/// A reference to one raw storage of the archive (`data/<key>`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StorageRef {
    pub dtype: DType,
    pub key: String,
    pub numel: usize,
}

/// What `torch._utils._rebuild_tensor_v2` would build: a strided view of a storage.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TensorRef {
    pub storage: StorageRef,
    pub offset: usize,
    pub shape: Vec<usize>,
    pub stride: Vec<usize>,
}

/// One unpickled value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer too wide for `i64`; its value is never needed.
    BigInt,
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Id>),
    /// Lists, and also sets (their order does not matter here).
    List(Vec<Id>),
    /// Dicts and `OrderedDict`s, in insertion order.
    Dict(Vec<(Id, Id)>),
    Global {
        module: String,
        name: String,
    },
    Storage(StorageRef),
    Tensor(TensorRef),
    /// The result of a call we do not interpret (`REDUCE`/`NEWOBJ`), with its `BUILD` state.
    Object {
        class: Id,
        args: Id,
        state: Option<Id>,
    },
}

/// Why a pickle stream was rejected.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum PickleError {
    #[error("unknown or unsupported opcode 0x{opcode:02x} at offset {offset}")]
    UnknownOpcode { opcode: u8, offset: usize },
    #[error("input ends inside opcode 0x{opcode:02x} at offset {offset}")]
    Truncated { opcode: u8, offset: usize },
    #[error("input ends without a STOP opcode")]
    NoStop,
    #[error("opcode 0x{opcode:02x} at offset {offset} pops from an empty stack")]
    StackUnderflow { opcode: u8, offset: usize },
    #[error("opcode 0x{opcode:02x} at offset {offset} needs a MARK")]
    NoMark { opcode: u8, offset: usize },
    #[error("memo slot {index} read at offset {offset} was never written")]
    MemoMissing { index: u32, offset: usize },
    #[error("invalid UTF-8 text at offset {offset}")]
    BadUtf8 { offset: usize },
    #[error("opcode 0x{opcode:02x} at offset {offset} expected {expected}")]
    WrongType {
        opcode: u8,
        offset: usize,
        expected: &'static str,
    },
    #[error("persistent id at offset {offset} is not a torch storage reference")]
    BadPersistentId { offset: usize },
    #[error("storage at offset {offset} is a view of another storage (torch before 1.0); re-save the checkpoint with a newer torch")]
    StorageView { offset: usize },
    #[error("unknown storage type torch.{name} at offset {offset}")]
    UnknownStorage { name: String, offset: usize },
    #[error("tensor rebuilt at offset {offset}: {reason}")]
    BadTensor { offset: usize, reason: &'static str },
}

/// A fully read pickle: the value arena and the id of the root value.
#[derive(Debug)]
pub(crate) struct Pickle {
    values: Vec<Value>,
    pub root: Id,
}

impl Pickle {
    pub(crate) fn get(&self, id: Id) -> &Value {
        // Ids only come from this arena, so they are always in range.
        &self.values[id]
    }

    /// Looks up a string key in a dict value.
    pub(crate) fn dict_get(&self, dict: Id, key: &str) -> Option<Id> {
        match self.get(dict) {
            Value::Dict(items) => items
                .iter()
                .rev() // a later SETITEM overrides an earlier one, as in Python
                .find(|(k, _)| matches!(self.get(*k), Value::Str(s) if s == key))
                .map(|&(_, v)| v),
            _ => None,
        }
    }

    /// Every storage the pickle refers to (once per reference).
    pub(crate) fn storages(&self) -> impl Iterator<Item = &StorageRef> {
        self.values.iter().filter_map(|v| match v {
            Value::Storage(s) => Some(s),
            _ => None,
        })
    }

    /// Short human description of a value, for error messages.
    pub(crate) fn describe(&self, id: Id) -> String {
        match self.get(id) {
            Value::None => "None".into(),
            Value::Bool(b) => format!("bool {b}"),
            Value::Int(i) => format!("int {i}"),
            Value::BigInt => "a wide int".into(),
            Value::Float(f) => format!("float {f}"),
            Value::Str(s) => format!("str {s:?}"),
            Value::Bytes(b) => format!("{} bytes", b.len()),
            Value::Tuple(_) => "a tuple".into(),
            Value::List(_) => "a list".into(),
            Value::Dict(_) => "a dict".into(),
            Value::Global { module, name } => format!("global {module}.{name}"),
            Value::Storage(s) => format!("storage {}", s.key),
            Value::Tensor(_) => "a tensor".into(),
            Value::Object { class, .. } => match self.get(*class) {
                Value::Global { module, name } => format!("an opaque {module}.{name} object"),
                _ => "an opaque object".into(),
            },
        }
    }
}

/// Runs the pickle machine over `input` up to its STOP opcode.
pub(crate) fn parse(input: &[u8]) -> Result<Pickle, PickleError> {
    parse_prefix(input).map(|(pickle, _)| pickle)
}

/// Like [`parse`], also giving the length of the pickle (the legacy format puts several
/// pickles and raw data one after another).
pub(crate) fn parse_prefix(input: &[u8]) -> Result<(Pickle, usize), PickleError> {
    Machine {
        input,
        pos: 0,
        op: 0,
        op_offset: 0,
        values: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    }
    .run()
}

mod op {
    pub const PROTO: u8 = 0x80;
    pub const FRAME: u8 = 0x95;
    pub const STOP: u8 = b'.';
    pub const MARK: u8 = b'(';
    pub const POP: u8 = b'0';
    pub const POP_MARK: u8 = b'1';
    pub const DUP: u8 = b'2';
    pub const NONE: u8 = b'N';
    pub const NEWTRUE: u8 = 0x88;
    pub const NEWFALSE: u8 = 0x89;
    pub const BININT: u8 = b'J';
    pub const BININT1: u8 = b'K';
    pub const BININT2: u8 = b'M';
    pub const LONG1: u8 = 0x8a;
    pub const LONG4: u8 = 0x8b;
    pub const BINFLOAT: u8 = b'G';
    pub const BINUNICODE: u8 = b'X';
    pub const SHORT_BINUNICODE: u8 = 0x8c;
    pub const BINUNICODE8: u8 = 0x8d;
    pub const BINSTRING: u8 = b'T';
    pub const SHORT_BINSTRING: u8 = b'U';
    pub const BINBYTES: u8 = b'B';
    pub const SHORT_BINBYTES: u8 = b'C';
    pub const BINBYTES8: u8 = 0x8e;
    pub const BYTEARRAY8: u8 = 0x96;
    pub const EMPTY_DICT: u8 = b'}';
    pub const EMPTY_LIST: u8 = b']';
    pub const EMPTY_TUPLE: u8 = b')';
    pub const EMPTY_SET: u8 = 0x8f;
    pub const ADDITEMS: u8 = 0x90;
    pub const FROZENSET: u8 = 0x91;
    pub const TUPLE: u8 = b't';
    pub const TUPLE1: u8 = 0x85;
    pub const TUPLE2: u8 = 0x86;
    pub const TUPLE3: u8 = 0x87;
    pub const LIST: u8 = b'l';
    pub const DICT: u8 = b'd';
    pub const APPEND: u8 = b'a';
    pub const APPENDS: u8 = b'e';
    pub const SETITEM: u8 = b's';
    pub const SETITEMS: u8 = b'u';
    pub const BINPUT: u8 = b'q';
    pub const LONG_BINPUT: u8 = b'r';
    pub const MEMOIZE: u8 = 0x94;
    pub const BINGET: u8 = b'h';
    pub const LONG_BINGET: u8 = b'j';
    pub const GLOBAL: u8 = b'c';
    pub const STACK_GLOBAL: u8 = 0x93;
    pub const REDUCE: u8 = b'R';
    pub const BUILD: u8 = b'b';
    pub const NEWOBJ: u8 = 0x81;
    pub const NEWOBJ_EX: u8 = 0x92;
    pub const BINPERSID: u8 = b'Q';
}

struct Machine<'a> {
    input: &'a [u8],
    pos: usize,
    /// The opcode being executed and where it started, for error messages.
    op: u8,
    op_offset: usize,
    values: Vec<Value>,
    stack: Vec<Id>,
    /// Stack heights at each open MARK.
    marks: Vec<usize>,
    /// Sparse: a hostile LONG_BINPUT index must not size a vector.
    memo: HashMap<u32, Id>,
}

impl Machine<'_> {
    fn run(mut self) -> Result<(Pickle, usize), PickleError> {
        loop {
            self.op_offset = self.pos;
            let Some(&opcode) = self.input.get(self.pos) else {
                return Err(PickleError::NoStop);
            };
            self.op = opcode;
            self.pos += 1;
            if opcode == op::STOP {
                let root = self.pop()?;
                let pickle = Pickle {
                    values: self.values,
                    root,
                };
                return Ok((pickle, self.pos));
            }
            self.step(opcode)?;
        }
    }

    fn step(&mut self, opcode: u8) -> Result<(), PickleError> {
        match opcode {
            op::PROTO => {
                self.take(1)?;
            }
            // Frames only group opcodes for buffered readers; the content is read inline.
            op::FRAME => {
                self.take(8)?;
            }
            op::MARK => self.marks.push(self.stack.len()),
            op::POP => {
                self.pop()?;
            }
            op::POP_MARK => {
                self.pop_mark()?;
            }
            op::DUP => {
                let top = self.top()?;
                self.stack.push(top);
            }
            op::NONE => self.push(Value::None),
            op::NEWTRUE => self.push(Value::Bool(true)),
            op::NEWFALSE => self.push(Value::Bool(false)),
            op::BININT => {
                let v = i32::from_le_bytes(self.array()?);
                self.push(Value::Int(v.into()));
            }
            op::BININT1 => {
                let v = self.take(1)?[0];
                self.push(Value::Int(v.into()));
            }
            op::BININT2 => {
                let v = u16::from_le_bytes(self.array()?);
                self.push(Value::Int(v.into()));
            }
            op::LONG1 => {
                let n = usize::from(self.take(1)?[0]);
                let v = long_value(self.take(n)?);
                self.push(v);
            }
            op::LONG4 => {
                let n = self.len_i32()?;
                let v = long_value(self.take(n)?);
                self.push(v);
            }
            op::BINFLOAT => {
                // The only big-endian number in the format.
                let v = f64::from_be_bytes(self.array()?);
                self.push(Value::Float(v));
            }
            op::BINUNICODE => {
                let n = self.len_u32()?;
                self.push_str(n)?;
            }
            op::SHORT_BINUNICODE => {
                let n = usize::from(self.take(1)?[0]);
                self.push_str(n)?;
            }
            op::BINUNICODE8 => {
                let n = self.len_u64()?;
                self.push_str(n)?;
            }
            // Python 2 `str`: decoded as text when it is valid UTF-8, like `encoding="utf-8"`.
            op::BINSTRING | op::SHORT_BINSTRING => {
                let n = if opcode == op::BINSTRING {
                    self.len_i32()?
                } else {
                    usize::from(self.take(1)?[0])
                };
                let raw = self.take(n)?;
                let v = match std::str::from_utf8(raw) {
                    Ok(s) => Value::Str(s.to_owned()),
                    Err(_) => Value::Bytes(raw.to_vec()),
                };
                self.push(v);
            }
            op::BINBYTES | op::SHORT_BINBYTES | op::BINBYTES8 | op::BYTEARRAY8 => {
                let n = match opcode {
                    op::BINBYTES => self.len_u32()?,
                    op::SHORT_BINBYTES => usize::from(self.take(1)?[0]),
                    _ => self.len_u64()?,
                };
                let raw = self.take(n)?.to_vec();
                self.push(Value::Bytes(raw));
            }
            op::EMPTY_DICT => self.push(Value::Dict(Vec::new())),
            op::EMPTY_LIST | op::EMPTY_SET => self.push(Value::List(Vec::new())),
            op::EMPTY_TUPLE => self.push(Value::Tuple(Vec::new())),
            op::TUPLE => {
                let items = self.pop_mark()?;
                self.push(Value::Tuple(items));
            }
            op::TUPLE1 | op::TUPLE2 | op::TUPLE3 => {
                let n = usize::from(opcode - op::TUPLE1 + 1);
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.pop()?);
                }
                items.reverse();
                self.push(Value::Tuple(items));
            }
            op::LIST | op::FROZENSET => {
                let items = self.pop_mark()?;
                self.push(Value::List(items));
            }
            op::DICT => {
                let items = self.pop_mark()?;
                let pairs = self.pairs(items)?;
                self.push(Value::Dict(pairs));
            }
            op::APPEND => {
                let item = self.pop()?;
                self.extend_list(vec![item])?;
            }
            op::APPENDS | op::ADDITEMS => {
                let items = self.pop_mark()?;
                self.extend_list(items)?;
            }
            op::SETITEM => {
                let value = self.pop()?;
                let key = self.pop()?;
                self.extend_dict(vec![(key, value)])?;
            }
            op::SETITEMS => {
                let items = self.pop_mark()?;
                let pairs = self.pairs(items)?;
                self.extend_dict(pairs)?;
            }
            op::BINPUT => {
                let index = self.take(1)?[0].into();
                self.memo_put(index)?;
            }
            op::LONG_BINPUT => {
                let index = u32::from_le_bytes(self.array()?);
                self.memo_put(index)?;
            }
            op::MEMOIZE => {
                // Memo indices are capped at u32 like LONG_BINPUT's; a stream with more
                // entries than that cannot fit in memory anyway.
                let index = u32::try_from(self.memo.len()).map_err(|_| self.wrong("memo room"))?;
                self.memo_put(index)?;
            }
            op::BINGET => {
                let index = self.take(1)?[0].into();
                self.memo_get(index)?;
            }
            op::LONG_BINGET => {
                let index = u32::from_le_bytes(self.array()?);
                self.memo_get(index)?;
            }
            op::GLOBAL => {
                let module = self.line()?;
                let name = self.line()?;
                self.push(Value::Global { module, name });
            }
            op::STACK_GLOBAL => {
                let name = self.pop_str()?;
                let module = self.pop_str()?;
                self.push(Value::Global { module, name });
            }
            op::REDUCE => {
                let args = self.pop()?;
                let callable = self.pop()?;
                self.reduce(callable, args)?;
            }
            op::NEWOBJ => {
                let args = self.pop()?;
                let class = self.pop()?;
                self.push(Value::Object {
                    class,
                    args,
                    state: None,
                });
            }
            op::NEWOBJ_EX => {
                let _kwargs = self.pop()?;
                let args = self.pop()?;
                let class = self.pop()?;
                self.push(Value::Object {
                    class,
                    args,
                    state: None,
                });
            }
            op::BUILD => {
                let state = self.pop()?;
                let target = self.top()?;
                match &mut self.values[target] {
                    Value::Object { state: slot, .. } => *slot = Some(state),
                    // Attributes of a dict/list subclass or a tensor (e.g. an OrderedDict's
                    // `_metadata`) are not needed.
                    Value::Dict(_) | Value::List(_) | Value::Tensor(_) => {}
                    _ => return Err(self.wrong("an object to BUILD")),
                }
            }
            op::BINPERSID => {
                let pid = self.pop()?;
                let storage = self.storage_ref(pid)?;
                self.push(Value::Storage(storage));
            }
            _ => {
                return Err(PickleError::UnknownOpcode {
                    opcode,
                    offset: self.op_offset,
                })
            }
        }
        Ok(())
    }

    // --- reading the input -------------------------------------------------------------

    fn take(&mut self, n: usize) -> Result<&[u8], PickleError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.input.len());
        let Some(end) = end else {
            return Err(PickleError::Truncated {
                opcode: self.op,
                offset: self.op_offset,
            });
        };
        let bytes = &self.input[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], PickleError> {
        let bytes = self.take(N)?;
        let mut out = [0; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// A length prefix; lengths past the input end are caught by the following `take`.
    fn len_u32(&mut self) -> Result<usize, PickleError> {
        let n = u32::from_le_bytes(self.array()?);
        usize::try_from(n).map_err(|_| self.truncated())
    }

    fn len_i32(&mut self) -> Result<usize, PickleError> {
        let n = i32::from_le_bytes(self.array()?);
        usize::try_from(n).map_err(|_| self.wrong("a non-negative length"))
    }

    fn len_u64(&mut self) -> Result<usize, PickleError> {
        let n = u64::from_le_bytes(self.array()?);
        usize::try_from(n).map_err(|_| self.truncated())
    }

    /// A newline-terminated ASCII line (GLOBAL's operands).
    fn line(&mut self) -> Result<String, PickleError> {
        let rest = self.input.get(self.pos..).unwrap_or_default();
        let Some(len) = rest.iter().position(|&b| b == b'\n') else {
            return Err(self.truncated());
        };
        let text = self.take(len + 1)?;
        let text = &text[..len];
        std::str::from_utf8(text)
            .map(str::to_owned)
            .map_err(|_| PickleError::BadUtf8 {
                offset: self.op_offset,
            })
    }

    fn push_str(&mut self, n: usize) -> Result<(), PickleError> {
        let offset = self.pos;
        let raw = self.take(n)?;
        let text = std::str::from_utf8(raw).map_err(|_| PickleError::BadUtf8 { offset })?;
        let value = Value::Str(text.to_owned());
        self.push(value);
        Ok(())
    }

    // --- the stack -------------------------------------------------------------------

    fn push(&mut self, value: Value) {
        self.values.push(value);
        self.stack.push(self.values.len() - 1);
    }

    /// Pops one value; like CPython, a pop never reaches below the innermost MARK.
    fn pop(&mut self) -> Result<Id, PickleError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(PickleError::StackUnderflow {
                opcode: self.op,
                offset: self.op_offset,
            });
        }
        self.stack.pop().ok_or(PickleError::StackUnderflow {
            opcode: self.op,
            offset: self.op_offset,
        })
    }

    fn top(&self) -> Result<Id, PickleError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        match self.stack.last() {
            Some(&id) if self.stack.len() > floor => Ok(id),
            _ => Err(PickleError::StackUnderflow {
                opcode: self.op,
                offset: self.op_offset,
            }),
        }
    }

    /// Pops everything above the innermost MARK, and the mark itself.
    fn pop_mark(&mut self) -> Result<Vec<Id>, PickleError> {
        let Some(mark) = self.marks.pop() else {
            return Err(PickleError::NoMark {
                opcode: self.op,
                offset: self.op_offset,
            });
        };
        // `pop` never goes below a mark, so the stack is at least `mark` high.
        let mark = mark.min(self.stack.len());
        Ok(self.stack.split_off(mark))
    }

    fn pop_str(&mut self) -> Result<String, PickleError> {
        let id = self.pop()?;
        match &self.values[id] {
            Value::Str(s) => Ok(s.clone()),
            _ => Err(self.wrong("a string")),
        }
    }

    fn pairs(&self, items: Vec<Id>) -> Result<Vec<(Id, Id)>, PickleError> {
        let chunks = items.chunks_exact(2);
        if !chunks.remainder().is_empty() {
            return Err(self.wrong("key/value pairs"));
        }
        Ok(chunks.map(|kv| (kv[0], kv[1])).collect())
    }

    fn extend_list(&mut self, items: Vec<Id>) -> Result<(), PickleError> {
        let target = self.top()?;
        match &mut self.values[target] {
            Value::List(list) => {
                list.extend(items);
                Ok(())
            }
            _ => Err(self.wrong("a list to append to")),
        }
    }

    fn extend_dict(&mut self, pairs: Vec<(Id, Id)>) -> Result<(), PickleError> {
        let target = self.top()?;
        match &mut self.values[target] {
            Value::Dict(dict) => {
                dict.extend(pairs);
                Ok(())
            }
            _ => Err(self.wrong("a dict to set items in")),
        }
    }

    fn memo_put(&mut self, index: u32) -> Result<(), PickleError> {
        let top = self.top()?;
        self.memo.insert(index, top);
        Ok(())
    }

    fn memo_get(&mut self, index: u32) -> Result<(), PickleError> {
        let id = *self.memo.get(&index).ok_or(PickleError::MemoMissing {
            index,
            offset: self.op_offset,
        })?;
        self.stack.push(id);
        Ok(())
    }

    fn truncated(&self) -> PickleError {
        PickleError::Truncated {
            opcode: self.op,
            offset: self.op_offset,
        }
    }

    fn wrong(&self, expected: &'static str) -> PickleError {
        PickleError::WrongType {
            opcode: self.op,
            offset: self.op_offset,
            expected,
        }
    }

    fn bad_tensor(&self, reason: &'static str) -> PickleError {
        PickleError::BadTensor {
            offset: self.op_offset,
            reason,
        }
    }

    // --- torch ---------------------------------------------------------------------------

    /// `REDUCE`: interprets the calls torch's state dicts are made of, by name only.
    fn reduce(&mut self, callable: Id, args: Id) -> Result<(), PickleError> {
        let name = match &self.values[callable] {
            Value::Global { module, name } => Some((module.as_str(), name.as_str())),
            _ => None,
        };
        let value = match name {
            Some(("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor")) => {
                Value::Tensor(self.rebuild_tensor(args)?)
            }
            // A Parameter pickles as its data tensor plus flags we do not need.
            Some(("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state")) => {
                let data = self.tuple(args)?.first().copied();
                match data.map(|id| &self.values[id]) {
                    Some(Value::Tensor(t)) => Value::Tensor(t.clone()),
                    _ => return Err(self.bad_tensor("parameter data is not a tensor")),
                }
            }
            Some(("collections", "OrderedDict")) => self.ordered_dict(args)?,
            _ => Value::Object {
                class: callable,
                args,
                state: None,
            },
        };
        self.push(value);
        Ok(())
    }

    fn tuple(&self, id: Id) -> Result<&[Id], PickleError> {
        match &self.values[id] {
            Value::Tuple(items) => Ok(items),
            _ => Err(self.wrong("a tuple of arguments")),
        }
    }

    /// `OrderedDict()` or `OrderedDict([(k, v), ...])`.
    fn ordered_dict(&self, args: Id) -> Result<Value, PickleError> {
        let mut pairs = Vec::new();
        if let Some(&items) = self.tuple(args)?.first() {
            let (Value::List(items) | Value::Tuple(items)) = &self.values[items] else {
                return Err(self.wrong("a list of pairs"));
            };
            for &item in items {
                match &self.values[item] {
                    Value::Tuple(kv) if kv.len() == 2 => pairs.push((kv[0], kv[1])),
                    _ => return Err(self.wrong("a (key, value) pair")),
                }
            }
        }
        Ok(Value::Dict(pairs))
    }

    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, ...)`.
    fn rebuild_tensor(&self, args: Id) -> Result<TensorRef, PickleError> {
        let args = self.tuple(args)?;
        let [storage, offset, shape, stride, ..] = *args else {
            return Err(self.bad_tensor("fewer than 4 arguments"));
        };
        let Value::Storage(storage) = &self.values[storage] else {
            return Err(self.bad_tensor("first argument is not a storage"));
        };
        let offset = self
            .usize_of(offset)
            .ok_or_else(|| self.bad_tensor("storage offset is not a non-negative int"))?;
        let shape = self
            .usizes(shape)
            .ok_or_else(|| self.bad_tensor("size is not a tuple of non-negative ints"))?;
        let stride = self
            .usizes(stride)
            .ok_or_else(|| self.bad_tensor("stride is not a tuple of non-negative ints"))?;
        if shape.len() != stride.len() {
            return Err(self.bad_tensor("size and stride differ in length"));
        }
        Ok(TensorRef {
            storage: storage.clone(),
            offset,
            shape,
            stride,
        })
    }

    fn usize_of(&self, id: Id) -> Option<usize> {
        match self.values[id] {
            Value::Int(v) => usize::try_from(v).ok(),
            _ => None,
        }
    }

    fn usizes(&self, id: Id) -> Option<Vec<usize>> {
        match &self.values[id] {
            Value::Tuple(items) => items.iter().map(|&i| self.usize_of(i)).collect(),
            _ => None,
        }
    }

    /// `BINPERSID` with torch's `('storage', torch.XStorage, key, location, numel)`; the
    /// legacy format appends `view_metadata`, which torch has written as `None` since 1.0.
    fn storage_ref(&self, pid: Id) -> Result<StorageRef, PickleError> {
        let bad = || PickleError::BadPersistentId {
            offset: self.op_offset,
        };
        let Value::Tuple(fields) = &self.values[pid] else {
            return Err(bad());
        };
        let (tag, class, key, numel) = match fields[..] {
            [tag, class, key, _location, numel] => (tag, class, key, numel),
            [tag, class, key, _location, numel, view] => {
                if self.values[view] != Value::None {
                    return Err(PickleError::StorageView {
                        offset: self.op_offset,
                    });
                }
                (tag, class, key, numel)
            }
            _ => return Err(bad()),
        };
        if !matches!(&self.values[tag], Value::Str(s) if s == "storage") {
            return Err(bad());
        }
        let dtype = match &self.values[class] {
            Value::Global { module, name } if module == "torch" => DType::from_torch_storage(name)
                .ok_or_else(|| PickleError::UnknownStorage {
                    name: name.clone(),
                    offset: self.op_offset,
                })?,
            _ => return Err(bad()),
        };
        let key = match &self.values[key] {
            Value::Str(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            _ => return Err(bad()),
        };
        let numel = self.usize_of(numel).ok_or_else(bad)?;
        Ok(StorageRef { dtype, key, numel })
    }
}

/// LONG1/LONG4 payload: little-endian two's complement of any width.
fn long_value(bytes: &[u8]) -> Value {
    if bytes.len() > 8 {
        // Wider encodings are still small numbers when the extra bytes only extend the sign.
        let negative = bytes.last().is_some_and(|&b| b & 0x80 != 0);
        let fill = if negative { 0xff } else { 0 };
        if bytes[8..].iter().any(|&b| b != fill) || ((bytes[7] & 0x80) != 0) != negative {
            return Value::BigInt;
        }
        return long_value(&bytes[..8]);
    }
    let negative = bytes.last().is_some_and(|&b| b & 0x80 != 0);
    let mut buf = if negative { [0xff; 8] } else { [0; 8] };
    buf[..bytes.len()].copy_from_slice(bytes);
    Value::Int(i64::from_le_bytes(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(bytes: &[u8]) -> Value {
        let p = parse(bytes).expect("valid pickle");
        p.get(p.root).clone()
    }

    #[test]
    fn longs_decode_with_sign() {
        assert_eq!(long_value(&[]), Value::Int(0));
        assert_eq!(long_value(&[0xff]), Value::Int(-1));
        assert_eq!(long_value(&[0x80, 0x00]), Value::Int(128));
        assert_eq!(long_value(&[1, 0, 0, 0, 0, 0, 0, 0, 0]), Value::Int(1));
        assert_eq!(long_value(&[0, 0, 0, 0, 0, 0, 0, 0, 1]), Value::BigInt);
    }

    #[test]
    fn dict_with_memo_and_marks() {
        // {'a': [1, 2], 'b': 'a'} at protocol 2, reusing the memoized 'a'.
        let bytes =
            b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01K\x02eX\x01\x00\x00\x00bh\x01u.";
        let p = parse(bytes).expect("valid pickle");
        let list = p.dict_get(p.root, "a").expect("key a");
        assert!(matches!(p.get(list), Value::List(items) if items.len() == 2));
        let b = p.dict_get(p.root, "b").expect("key b");
        assert_eq!(p.get(b), &Value::Str("a".into()));
    }

    #[test]
    fn pop_cannot_cross_a_mark() {
        assert!(matches!(
            parse(b"K\x01(0."),
            Err(PickleError::StackUnderflow { offset: 3, .. })
        ));
    }

    #[test]
    fn unknown_calls_stay_opaque() {
        let v = root(b"cos\nsystem\nX\x02\x00\x00\x00ls\x85R.");
        assert!(matches!(v, Value::Object { state: None, .. }));
    }

    #[test]
    fn errors_instead_of_panics() {
        assert!(matches!(parse(b""), Err(PickleError::NoStop)));
        assert!(matches!(
            parse(b"\xff"),
            Err(PickleError::UnknownOpcode { opcode: 0xff, .. })
        ));
        assert!(matches!(
            parse(b"X\xff\xff\xff\xff"),
            Err(PickleError::Truncated { .. })
        ));
        assert!(matches!(
            parse(b"h\x05."),
            Err(PickleError::MemoMissing { index: 5, .. })
        ));
    }
}
