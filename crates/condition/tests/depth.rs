//! Recursion guard: deep nesting must give an error (never a stack overflow), and a nesting of
//! `DEFAULT_MAX_DEPTH` must parse and print on a thread with the default 2 MiB stack, even in a
//! debug build.

use harrier_condition::{canonical, parse, parse_with_depth, Expr, DEFAULT_MAX_DEPTH};
use std::time::{Duration, Instant};

const STACK: usize = 2 * 1024 * 1024;

fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new().stack_size(STACK).spawn(f).expect("spawn").join().expect("thread panicked")
}

fn nested_parens(n: usize) -> String {
    format!("{}a.b = 1{}", "(".repeat(n), ")".repeat(n))
}

#[test]
fn hundred_thousand_open_parens_fail_fast() {
    let input = "(".repeat(100_000);
    let start = Instant::now();
    let err = on_small_stack(move || parse(&input).unwrap_err());
    assert!(err.message.contains("exceeded max depth limit of 1000"), "{err}");
    assert_eq!(err.pos.idx, 1000, "error at the first '(' beyond the limit");
    assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
}

#[test]
fn hundred_thousand_balanced_parens_fail_fast() {
    let input = nested_parens(100_000);
    let err = on_small_stack(move || parse(&input).unwrap_err());
    assert!(err.message.contains("exceeded max depth"), "{err}");
}

#[test]
fn max_depth_parens_parse_on_2mib_stack() {
    let n = DEFAULT_MAX_DEPTH;
    let printed =
        on_small_stack(move || canonical(&parse(&nested_parens(n)).expect("depth 1000 must parse")));
    assert_eq!(printed, "a.b = 1");
    let err = on_small_stack(move || parse(&nested_parens(n + 1)).unwrap_err());
    assert!(err.message.contains("exceeded max depth limit of 1000"), "{err}");
}

#[test]
fn deep_not_and_chains_parse_print_and_drop_on_2mib_stack() {
    // not(not(...)) and (x and (x and ...)) build trees 1000 levels deep.
    let n = DEFAULT_MAX_DEPTH;
    let nots = format!("{}a{}", "not(".repeat(n), ")".repeat(n));
    let ands = format!("{}x{}", "(x and ".repeat(n), ")".repeat(n));
    on_small_stack(move || {
        let e = parse(&nots).unwrap();
        let mut depth = 0;
        let mut cur = &e;
        while let Expr::Not(inner, _) = cur {
            depth += 1;
            cur = inner;
        }
        assert_eq!(depth, n);
        let printed = canonical(&e);
        assert!(printed.starts_with("not (not (not"));
        let again = parse(&printed).unwrap();
        assert_eq!(canonical(&again), printed);

        let e = parse(&ands).unwrap();
        let printed = canonical(&e);
        assert_eq!(canonical(&parse(&printed).unwrap()), printed);
        drop(e);
    });
}

#[test]
fn deep_transformers_on_2mib_stack() {
    let n = DEFAULT_MAX_DEPTH;
    let t = format!("{}f.f{} = x", "tolower(".repeat(n), ")".repeat(n));
    let t2 = t.clone();
    on_small_stack(move || {
        let e = parse(&t).expect("1000 nested transformers must parse");
        assert_eq!(canonical(&e), t);
    });
    let over = format!("{}f.f{} = x", "tolower(".repeat(n + 1), ")".repeat(n + 1));
    let err = on_small_stack(move || parse(&over).unwrap_err());
    assert!(err.message.contains("exceeded max depth"), "{err}");
    // transformers on the right side and in lists recurse too
    let rhs = format!("a.b = {}", t2.trim_end_matches(" = x"));
    on_small_stack(move || assert!(parse(&rhs).is_ok()));
    let huge = format!("{}f.f", "len(".repeat(200_000));
    let err = on_small_stack(move || parse(&huge).unwrap_err());
    assert!(err.message.contains("exceeded max depth"), "{err}");
    let lists = format!("{}f.f{} = x", "join(\",\",(".repeat(400), "))".repeat(400));
    on_small_stack(move || assert!(parse(&lists).is_ok()));
    let lists = format!("{}f.f{} = x", "join(\",\",(".repeat(600), "))".repeat(600));
    let err = on_small_stack(move || parse(&lists).unwrap_err());
    assert!(err.message.contains("exceeded max depth"), "{err}");
}

#[test]
fn explicit_depth_limits() {
    assert!(parse_with_depth("a.b = 1", 0).is_ok());
    assert!(parse_with_depth("a or b and not c", 0).is_ok());
    let err = parse_with_depth("(a)", 0).unwrap_err();
    assert_eq!(err.message, "exceeded max depth limit of 0");
    assert!(parse_with_depth("(a)", 1).is_ok());
    assert!(parse_with_depth("((a))", 2).is_ok());
    assert!(parse_with_depth("((a))", 1).is_err());
    assert!(parse_with_depth("not(a)", 1).is_ok());
    assert!(parse_with_depth("a and(b)", 1).is_ok());
    assert!(parse_with_depth("a or(b)", 1).is_ok());
    // sibling groups do not accumulate depth
    assert!(parse_with_depth("(a) and (b) or (c)", 1).is_ok());
    assert!(parse_with_depth("tolower(f.f) = 1", 1).is_ok());
    assert!(parse_with_depth("tolower(f.f) = 1", 0).is_err());
    assert!(parse_with_depth("(tolower(f.f) = 1)", 1).is_err());
    assert!(parse_with_depth("(tolower(f.f) = 1)", 2).is_ok());
    assert!(parse_with_depth("join(\",\", (f.f)) = 1", 1).is_err());
    assert!(parse_with_depth("join(\",\", (f.f)) = 1", 2).is_ok());
}
