//! With feature `npu`: Rust bindings generated from Rockchip's RKNN headers, a check that
//! their layout matches the C compiler's, and a stub `librknnrt.so` to link against when the
//! real runtime (it comes with the board image) is not at hand.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "npu")]
    rknn::build();
}

#[cfg(feature = "npu")]
mod rknn {
    use std::collections::BTreeSet;
    use std::env;
    use std::fmt::Write as _;
    use std::fs;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// The vendor headers, read in place (their licence does not let us copy them).
    const HEADERS: [&str; 3] = ["rknn_api.h", "rknn_matmul_api.h", "rknn_custom_op.h"];

    pub fn build() {
        println!("cargo:rerun-if-env-changed=RKNPU_INCLUDE_DIR");
        println!("cargo:rerun-if-env-changed=RKNPU_LIB_DIR");
        // The C compiler and its flags decide the layout the bindings are checked against.
        let target = env::var("TARGET").expect("cargo sets it");
        for var in ["CC", "CFLAGS"] {
            for name in [
                var.to_owned(),
                format!("TARGET_{var}"),
                format!("{var}_{target}"),
                format!("{var}_{}", target.replace('-', "_")),
            ] {
                println!("cargo:rerun-if-env-changed={name}");
            }
        }
        let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
        let include = env::var_os("RKNPU_INCLUDE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| manifest.join("../../../shared/vendor/rknpu2/include"));
        for h in HEADERS {
            let path = include.join(h);
            assert!(
                path.is_file(),
                "{} is missing: set RKNPU_INCLUDE_DIR to the `include` folder of Rockchip's \
                 rknpu2 runtime (rknpu2/runtime/Linux/librknn_api/include)",
                path.display()
            );
            println!("cargo:rerun-if-changed={}", path.display());
        }
        let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets it"));
        let cc = cc::Build::new().cargo_metadata(false).get_compiler();
        let wrapper = out.join("rknn_all.h");
        let includes: String = HEADERS
            .iter()
            .map(|h| format!("#include \"{h}\"\n"))
            .collect();
        fs::write(&wrapper, &includes).expect("write wrapper header");

        let bindings = bindings(&wrapper, &include, &cc);
        fs::write(out.join("rknn_bindings.rs"), &bindings).expect("write bindings");
        let preprocessed = run(cc
            .to_command()
            .args(["-E", "-P", "-I"])
            .arg(&include)
            .arg(&wrapper));
        fs::write(
            out.join("rknn_layout.rs"),
            layout(&bindings, &preprocessed, &include, &includes, &cc, &out),
        )
        .expect("write layout checks");

        println!("cargo:rustc-check-cfg=cfg(rknn_stub)");
        match env::var_os("RKNPU_LIB_DIR") {
            Some(dir) => println!(
                "cargo:rustc-link-search=native={}",
                PathBuf::from(dir).display()
            ),
            None => {
                let dir = out.join("stub");
                fs::create_dir_all(&dir).expect("stub dir");
                stub(&preprocessed, &include, &includes, &cc, &dir);
                println!("cargo:rustc-link-search=native={}", dir.display());
                println!("cargo:rustc-cfg=rknn_stub");
            }
        }
        println!("cargo:rustc-link-lib=dylib=rknnrt");
    }

    fn run(cmd: &mut Command) -> String {
        let shown = format!(
            "{:?} {:?}",
            cmd.get_program(),
            cmd.get_args().collect::<Vec<_>>()
        );
        let output = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
        assert!(
            output.status.success(),
            "{shown} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The C compiler's system include folders (a cross compiler's libc headers), for clang.
    fn system_includes(cc: &cc::Tool) -> Vec<String> {
        let output = cc
            .to_command()
            .args(["-E", "-Wp,-v", "-xc", "/dev/null"])
            .output()
            .expect("run the C compiler");
        let text = String::from_utf8_lossy(&output.stderr).into_owned();
        text.lines()
            .skip_while(|l| !l.starts_with("#include <...>"))
            .skip(1)
            .take_while(|l| !l.starts_with("End of search list"))
            .map(|l| l.trim().to_owned())
            // gcc's own builtin headers are for gcc; clang brings its own.
            .filter(|l| !l.contains("/gcc"))
            .collect()
    }

    fn bindings(wrapper: &Path, include: &Path, cc: &cc::Tool) -> String {
        let target = env::var("TARGET").expect("cargo sets it");
        let mut builder = bindgen::Builder::default()
            .header(wrapper.display().to_string())
            .clang_arg(format!("--target={target}"))
            .clang_arg(format!("-I{}", include.display()))
            .allowlist_function("rknn_.*")
            .allowlist_type("_?rknn_.*")
            .allowlist_var("RKNN_.*")
            // Enum constants as plain constants with their C names, as C code uses them.
            .default_enum_style(bindgen::EnumVariation::Consts)
            .prepend_enum_name(false)
            // Checked against the C compiler below, not against libclang's own view.
            .layout_tests(false)
            .generate_comments(false);
        for dir in system_includes(cc) {
            builder = builder.clang_arg(format!("-isystem{dir}"));
        }
        builder
            .generate()
            .expect("bindgen cannot read the RKNN headers")
            .to_string()
    }

    /// Structs (Rust name, field names) and constants of the generated bindings.
    fn items(bindings: &str) -> (Vec<(String, Vec<String>)>, Vec<String>) {
        let mut structs = Vec::new();
        let mut consts = BTreeSet::new();
        let mut current: Option<(String, Vec<String>)> = None;
        for line in bindings.lines() {
            let line = line.trim();
            if let Some(rest) = line
                .strip_prefix("pub struct ")
                .or_else(|| line.strip_prefix("pub union "))
            {
                if let Some(name) = rest.strip_suffix(" {") {
                    current = Some((name.to_owned(), Vec::new()));
                }
            } else if line == "}" {
                structs.extend(current.take());
            } else if let Some((_, fields)) = current.as_mut() {
                if let Some((field, _)) = line.strip_prefix("pub ").and_then(|f| f.split_once(':'))
                {
                    if !field.starts_with("_bindgen") && !field.starts_with("__") {
                        fields.push(field.to_owned());
                    }
                }
            } else if let Some(rest) = line.strip_prefix("pub const ") {
                if let Some((name, _)) = rest.split_once(':') {
                    if name.starts_with("RKNN_") {
                        consts.insert(name.to_owned());
                    }
                }
            }
        }
        (structs, consts.into_iter().collect())
    }

    /// The C name of a bindgen struct: its tag where the header has one, else its typedef.
    fn c_type(name: &str, preprocessed: &str) -> String {
        let tagged = [" {", "{", "\n{"].iter().any(|end| {
            preprocessed.contains(&format!("struct {name}{end}"))
                || preprocessed.contains(&format!("union {name}{end}"))
        });
        if tagged {
            if preprocessed.contains(&format!("union {name}")) {
                format!("union {name}")
            } else {
                format!("struct {name}")
            }
        } else {
            name.to_owned()
        }
    }

    /// The C name of a field bindgen renamed (a Rust keyword gets a trailing `_`).
    fn c_field(field: &str) -> &str {
        match field {
            "type_" | "ref_" | "mod_" | "fn_" | "impl_" | "box_" | "match_" | "use_" | "self_" => {
                &field[..field.len() - 1]
            }
            _ => field,
        }
    }

    /// Rust constants that compare the bindings' layout (as rustc lays them out for this
    /// target) and constants with what the C compiler for this target makes of the header:
    /// every struct's size and alignment, every field's offset, every enum constant's value.
    fn layout(
        bindings: &str,
        preprocessed: &str,
        include: &Path,
        includes: &str,
        cc: &cc::Tool,
        out: &Path,
    ) -> String {
        let (structs, consts) = items(bindings);
        let mut c_exprs = Vec::new();
        let mut rust = Vec::new();
        for (name, fields) in &structs {
            let ct = c_type(name, preprocessed);
            c_exprs.push(format!("sizeof({ct})"));
            rust.push((
                format!("size_of {name}"),
                format!("core::mem::size_of::<super::{name}>() as i64"),
            ));
            c_exprs.push(format!("_Alignof({ct})"));
            rust.push((
                format!("align_of {name}"),
                format!("core::mem::align_of::<super::{name}>() as i64"),
            ));
            for f in fields {
                c_exprs.push(format!("offsetof({ct}, {})", c_field(f)));
                rust.push((
                    format!("offset_of {name}.{f}"),
                    format!("core::mem::offset_of!(super::{name}, {f}) as i64"),
                ));
            }
        }
        for c in &consts {
            c_exprs.push(format!("(unsigned long long)(long long)({c})"));
            rust.push((format!("value of {c}"), format!("super::{c} as i64")));
        }
        let mut c = format!(
            "#include <stddef.h>\n{includes}const unsigned long long sdt_rknn_layout[] = {{\n"
        );
        for e in &c_exprs {
            let _ = writeln!(c, "  {e},");
        }
        c.push_str("};\n");
        let source = out.join("rknn_layout.c");
        fs::write(&source, c).expect("write layout source");
        let asm = out.join("rknn_layout.s");
        run(cc
            .to_command()
            .args(["-S", "-O0", "-g0", "-I"])
            .arg(include)
            .arg("-o")
            .arg(&asm)
            .arg(&source));
        let values = data_words(&fs::read_to_string(&asm).expect("read layout assembly"));
        assert_eq!(
            values.len(),
            c_exprs.len(),
            "layout assembly: unexpected data words"
        );

        let mut text = String::from(
            "// Generated by build.rs from the RKNN headers and the C compiler for this target.\n\
             /// (what, as rustc lays out the bindings, as the C compiler lays out the header).\n\
             pub const CHECKS: &[(&str, i64, i64)] = &[\n",
        );
        for ((what, expr), value) in rust.iter().zip(&values) {
            let _ = writeln!(text, "    ({what:?}, {expr}, {value}),");
        }
        text.push_str(
            "];\n\n\
             // The build fails when the bindings and the C compiler disagree (the layout test\n\
             // on the host names the entries).\n\
             const _: () = {\n    let mut i = 0;\n    while i < CHECKS.len() {\n        \
             assert!(CHECKS[i].1 == CHECKS[i].2, \"RKNN bindings differ from the C layout\");\n        \
             i += 1;\n    }\n};\n",
        );
        text
    }

    /// The 8-byte data words of the `sdt_rknn_layout` array in an assembly listing, in order
    /// (`.zero` runs included).
    fn data_words(asm: &str) -> Vec<i64> {
        let mut words = Vec::new();
        let lines = asm
            .lines()
            .skip_while(|l| l.trim() != "sdt_rknn_layout:")
            .skip(1);
        for line in lines {
            let mut parts = line.split_whitespace();
            match (parts.next(), parts.next()) {
                (Some(".xword" | ".quad" | ".8byte" | ".dword"), Some(v)) => {
                    let v: i128 = v.parse().unwrap_or_else(|_| panic!("data word {v}"));
                    words.push(v as i64);
                }
                (Some(".zero" | ".space"), Some(n)) => {
                    let n: usize = n.parse().unwrap_or_else(|_| panic!("zero run {n}"));
                    words.extend(std::iter::repeat_n(0, n / 8));
                }
                _ => break,
            }
        }
        words
    }

    /// Compiles `librknnrt.so` with every function the headers declare, each failing
    /// (`RKNN_ERR_FAIL`, a null pointer or nothing). The definitions are compiled under the
    /// headers, so a signature that differs from the declaration is a compile error.
    fn stub(preprocessed: &str, include: &Path, includes: &str, cc: &cc::Tool, dir: &Path) {
        let mut c = format!(
            "/* Generated by build.rs: stand-in for Rockchip's librknnrt.so. */\n{includes}"
        );
        let mut count = 0;
        for decl in declarations(preprocessed) {
            let Some(open) = decl.find('(') else { continue };
            let head = decl[..open].trim();
            let Some(name) = head
                .split(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
                .next_back()
            else {
                continue;
            };
            if !name.starts_with("rknn_") {
                continue;
            }
            let ret = head[..head.len() - name.len()].trim();
            let body = if ret.contains('*') {
                "return 0;"
            } else if ret == "void" {
                ""
            } else {
                "return -1; /* RKNN_ERR_FAIL */"
            };
            let _ = writeln!(c, "{decl} {{ {body} }}");
            count += 1;
        }
        assert!(count > 0, "no functions found in the RKNN headers");
        let source = dir.join("rknnrt_stub.c");
        fs::write(&source, c).expect("write stub source");
        run(cc
            .to_command()
            .args([
                "-shared",
                "-fPIC",
                "-O1",
                "-Wall",
                "-Werror",
                "-Wno-unused-parameter",
                "-I",
            ])
            .arg(include)
            .arg("-o")
            .arg(dir.join("librknnrt.so"))
            .arg(&source));
    }

    /// Top-level function declarations (no body, not `static`, not `typedef`) of preprocessed C.
    fn declarations(c: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut depth = 0usize;
        let mut current = String::new();
        for ch in c.chars() {
            match ch {
                '{' => {
                    depth += 1;
                    current.push(ch);
                }
                '}' => {
                    depth = depth.saturating_sub(1);
                    current.push(ch);
                    // A function body ends a definition without a `;`.
                    if depth == 0
                        && current.contains(')')
                        && !current.trim_start().starts_with("typedef")
                    {
                        current.clear();
                    }
                }
                ';' if depth == 0 => {
                    let decl = current.split_whitespace().collect::<Vec<_>>().join(" ");
                    if decl.contains('(')
                        && !decl.starts_with("typedef")
                        && !decl.contains("static")
                        && !decl.starts_with("extern")
                    {
                        out.push(decl);
                    }
                    current.clear();
                }
                _ => current.push(ch),
            }
        }
        out
    }
}
