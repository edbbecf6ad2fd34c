fn main() {
    // The generated parser goes to OUT_DIR and is included by `src/generated.rs` only.
    lalrpop::Configuration::new()
        .use_cargo_dir_conventions()
        .emit_rerun_directives(true)
        .process()
        .expect("the EVR grammar must generate");
}
