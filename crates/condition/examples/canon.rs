//! Print the canonical form of each argument (or the parse error).
fn main() {
    for a in std::env::args().skip(1) {
        match harrier_condition::parse(&a) {
            Ok(e) => println!("{a:?} => {e}"),
            Err(e) => println!("{a:?} => ERROR {e}"),
        }
    }
}
