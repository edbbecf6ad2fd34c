fn main() {
    for path in std::env::args().skip(1) {
        let src = std::fs::read_to_string(&path).unwrap();
        let p = evr_grammar::parse(0, &src);
        println!("{path}: {} items, errors: {:#?}", p.module.items.len(), p.errors);
        if std::env::var("AST").is_ok() {
            println!("{:#?}", p.module.items);
        }
    }
}
