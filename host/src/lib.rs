//! Host utilities the SDT-V3 tools share, none of them about conversion: the threaded
//! [`Executor`](sdt_core::Executor) ([`ThreadPool`]), model blobs in aligned memory
//! ([`AlignedBlob`]), atomic file writes and the lookup of the shared data folders.

pub mod blob;
pub mod data;
pub mod error;
pub mod fs;
pub mod level;
pub mod pool;

pub use blob::AlignedBlob;
pub use error::{Error, Result};
pub use pool::ThreadPool;
