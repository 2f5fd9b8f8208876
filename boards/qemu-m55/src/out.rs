//! Line-oriented text to the host's stdout over semihosting, buffered to keep the number of
//! semihosting calls low. The host harness parses these lines (see `sdt-qemu-m55-host`).

use core::fmt;

use cortex_m_semihosting::hio::{self, HostStream};

pub struct Out {
    stream: Option<HostStream>,
    buf: [u8; 512],
    len: usize,
}

impl Out {
    pub fn new() -> Self {
        Out {
            stream: hio::hstdout().ok(),
            buf: [0; 512],
            len: 0,
        }
    }

    pub fn flush(&mut self) {
        if let Some(s) = self.stream.as_mut() {
            // Nothing sensible to do if the host does not take the bytes.
            let _ = s.write_all(&self.buf[..self.len]);
        }
        self.len = 0;
    }
}

impl fmt::Write for Out {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for chunk in s.as_bytes().chunks(self.buf.len()) {
            if self.len + chunk.len() > self.buf.len() {
                self.flush();
            }
            self.buf[self.len..self.len + chunk.len()].copy_from_slice(chunk);
            self.len += chunk.len();
        }
        Ok(())
    }
}

/// Ends the emulation with `code` as QEMU's exit status (semihosting SYS_EXIT_EXTENDED).
pub fn exit(code: u32) -> ! {
    const SYS_EXIT_EXTENDED: usize = 0x20;
    const ADP_STOPPED_APPLICATION_EXIT: usize = 0x20026;
    let block = [ADP_STOPPED_APPLICATION_EXIT, code as usize];
    // SAFETY: the semihosting call only reads the two-word parameter block.
    unsafe {
        cortex_m_semihosting::syscall(SYS_EXIT_EXTENDED, &block);
    }
    loop {
        cortex_m::asm::wfi();
    }
}
