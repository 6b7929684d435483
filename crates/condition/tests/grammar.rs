//! Grammar coverage: every rule, operator, modifier, transformer, escape and edge case of the
//! reference documentation, checked through the AST and the canonical printer.

use harrier_condition::*;

#[track_caller]
fn c(input: &str) -> String {
    match parse(input) {
        Ok(e) => canonical(&e),
        Err(err) => panic!("{input:?} failed to parse: {err}"),
    }
}

#[track_caller]
fn err(input: &str) -> ParseError {
    match parse(input) {
        Ok(e) => panic!("{input:?} unexpectedly parsed as {e}"),
        Err(err) => err,
    }
}

#[track_caller]
fn err_msg(input: &str, needle: &str) {
    let e = err(input);
    assert!(e.message.contains(needle), "{input:?}: error {:?} does not contain {needle:?}", e.message);
}

#[track_caller]
fn cmp(input: &str) -> Compare {
    match parse(input).unwrap() {
        Expr::Compare(c) => *c,
        other => panic!("{input:?}: not a comparison: {other:?}"),
    }
}

fn value(input: &str) -> String {
    match cmp(input).right {
        Rhs::Value(v, _) => v,
        other => panic!("{input:?}: not a value: {other:?}"),
    }
}

// ----- boolean structure ----------------------------------------------------------------------

#[test]
fn identifiers_and_macros() {
    assert!(matches!(parse("my_macro").unwrap(), Expr::Identifier(ref n, _) if n == "my_macro"));
    assert_eq!(c("a1_b"), "a1_b");
    assert_eq!(c("  spaced  "), "spaced");
    err_msg("_a", "expected '(', 'not', a field or identifier");
    err_msg("1abc", "a field or identifier");
}

#[test]
fn and_or_precedence() {
    assert_eq!(c("a or b and c"), "(a or (b and c))");
    assert_eq!(c("a and b or c"), "((a and b) or c)");
    assert_eq!(c("a and b and c"), "(a and b and c)");
    assert_eq!(c("a or b or c"), "(a or b or c)");
    assert_eq!(c("a and (b or c)"), "(a and (b or c))");
    assert_eq!(c("(a and b) and c"), "((a and b) and c)");
    assert_eq!(c("a or b and c or d and e and f"), "(a or (b and c) or (d and e and f))");
    match parse("a and b or c").unwrap() {
        Expr::Or(children, _) => {
            assert_eq!(children.len(), 2);
            assert!(matches!(&children[0], Expr::And(v, _) if v.len() == 2));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn blanks_of_all_kinds() {
    assert_eq!(c("a\tand\nb\rand\u{8}c"), "(a and b and c)");
    assert_eq!(c("\n\n a.b\t=\r\n1 "), "a.b = 1");
    // vertical tab / form feed are not blanks
    assert!(parse("a\u{b}and b").is_err());
    assert!(parse("a and\u{c}b").is_err());
}

#[test]
fn and_or_are_raw_prefixes() {
    err_msg("a andb", "expected a blank or '(' after 'and'");
    err_msg("a orb", "expected a blank or '(' after 'or'");
    err_msg("aand b", "unexpected token after 'aand', expecting 'or', 'and'");
    err_msg("a andnot b", "after 'and'");
    assert_eq!(c("a and notb"), "(a and notb)");
    assert!(
        matches!(parse("a and notb").unwrap(), Expr::And(ref v, _) if matches!(&v[1], Expr::Identifier(n, _) if n == "notb"))
    );
    assert_eq!(c("a and(b)"), "(a and b)");
    assert_eq!(c("a or(b)"), "(a or b)");
    assert_eq!(c("a and(b or c)"), "(a and (b or c))");
    assert_eq!(c("a.b < 1and c"), "(a.b < 1 and c)");
    assert_eq!(c("test.op existsand macro"), "(test.op exists and macro)");
    assert_eq!(c("test.op existsor macro"), "(test.op exists or macro)");
    // `or(` is followed by a parenthesised expression only, not by an `and` chain
    err_msg("a or(b) and c", "unexpected token after ')'");
    assert_eq!(c("a or (b) and c"), "(a or (b and c))");
    assert_eq!(c("a or(b) or c"), "(a or b or c)");
    assert_eq!(c("a and(b) or c"), "((a and b) or c)");
    assert_eq!(c("a and(b) and c"), "(a and b and c)");
    err_msg("a and", "expected a blank or '(' after 'and', found end of input");
    err_msg("a and ", "expected '(', 'not', a field or identifier");
    err_msg("a or ", "found end of input");
}

#[test]
fn keywords_are_case_sensitive() {
    err_msg("a AND b", "unexpected token after 'a'");
    err_msg("a Or b", "unexpected token after 'a'");
    assert_eq!(c("NOT"), "NOT");
    err_msg("NOT a", "unexpected token after 'NOT'");
    err_msg("a.b ExIsTs", "expected a valid check operator");
    assert_eq!(c("x.y = ONEOF"), "x.y = ONEOF");
    err_msg("x.y = ONEOF (a)", "unexpected token after 'ONEOF'");
    err_msg("x.y IN (a)", "expected a valid check operator");
}

#[test]
fn not_toggling() {
    assert_eq!(c("not a"), "not a");
    assert_eq!(c("not not a"), "a");
    assert_eq!(c("not not not a"), "not a");
    assert_eq!(c("not\t\nnot  \n a"), "a");
    assert_eq!(c("not(a)"), "not a");
    assert_eq!(c("not not(a)"), "a");
    assert_eq!(c("not (a)"), "not a");
    assert_eq!(c("not (not a)"), "not (not a)");
    assert_eq!(c("not(not(a))"), "not (not a)");
    assert_eq!(c("not a.b = 1 and c"), "(not a.b = 1 and c)");
    assert_eq!(c("not (a and b)"), "not (a and b)");
    assert_eq!(c("not notb"), "not notb");
    assert_eq!(c("nota.b exists"), "nota.b exists");
    // `not` not followed by a blank or '(' is an identifier
    assert!(matches!(parse("not").unwrap(), Expr::Identifier(ref n, _) if n == "not"));
    assert_eq!(c("a and not"), "(a and (not))");
    assert_eq!(c("(not) or b"), "((not) or b)");
    // not followed by a vertical tab (POSIX space) still toggles
    assert_eq!(c("not\u{b}a"), "not a");
    match parse("not not not a").unwrap() {
        Expr::Not(inner, pos) => {
            assert_eq!(pos.idx, 0);
            assert!(matches!(*inner, Expr::Identifier(..)));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn parentheses() {
    assert_eq!(c("((a))"), "a");
    assert_eq!(c("( a.b = 1 )"), "a.b = 1");
    assert_eq!(c("(\na\n)"), "a");
    err_msg("(a", "expected ')'");
    err_msg("(a b)", "expected ')'");
    err_msg("a)", "unexpected token after 'a', expecting 'or', 'and'");
    err_msg("()", "expected '(', 'not', a field or identifier");
}

#[test]
fn empty_and_blank_input() {
    let e = err("");
    assert_eq!(e.pos, Pos { idx: 0, line: 1, col: 1 });
    assert!(e.message.contains("empty"));
    err_msg("   \n ", "expected '(', 'not', a field or identifier, found end of input");
}

#[test]
fn trailing_junk() {
    err_msg("a b", "unexpected token after 'a', expecting 'or', 'and'");
    err_msg("a.b = 1 2", "unexpected token after '1', expecting 'or', 'and'");
    err_msg("a.b exists)", "unexpected token after 'exists'");
    err_msg("a.b existsx", "unexpected token after 'exists'");
    err_msg("(a) b", "unexpected token after ')'");
    err_msg("a.b = \"x\"y", "unexpected token after");
    err_msg("a.b = 1\0", "unexpected token after '1'");
    err_msg("a.", "unexpected token after 'a'");
}

// ----- checks and operators -------------------------------------------------------------------

#[test]
fn fields() {
    let c1 = cmp("proc.name = bash");
    let Operand::Field(f) = &c1.left else { panic!() };
    assert_eq!(f.name, "proc.name");
    assert_eq!(f.arg, None);
    assert_eq!(c("a.b.c_1.D2 exists"), "a.b.c_1.D2 exists");
    // a field needs a check
    err_msg("proc.name", "expected a valid check operator");
    err_msg("proc.name and a", "expected a valid check operator");
}

#[test]
fn field_arguments() {
    let arg = |s: &str| match parse(s).unwrap() {
        Expr::Exists(Operand::Field(f), _) => f.arg,
        other => panic!("{other:?}"),
    };
    assert_eq!(arg("proc.aname[2] exists"), Some("2".into()));
    assert_eq!(arg("evt.arg[fd] exists"), Some("fd".into()));
    assert_eq!(arg("json.value[/a/b] exists"), Some("/a/b".into()));
    assert_eq!(arg("x.y[a=b(c),d] exists"), Some("a=b(c),d".into()));
    assert_eq!(arg("x.y[\"a b\"] exists"), Some("a b".into()));
    assert_eq!(arg("x.y['a]b'] exists"), Some("a]b".into()));
    assert_eq!(arg("x.y[\"\"] exists"), Some(String::new()));
    assert_eq!(arg("x.y exists"), None);
    assert_eq!(c("x.y[\"\"] exists"), "x.y[\"\"] exists");
    assert_eq!(c("x.y['a b'] exists"), "x.y[\"a b\"] exists");
    assert_eq!(c("x.y[a=b] exists"), "x.y[\"a=b\"] exists");
    assert_eq!(c("container.label[app] = nginx"), "container.label[app] = nginx");
    err_msg("x.y[] exists", "expected a field argument");
    err_msg("x.y[a exists", "expected ']'");
    err_msg("x.y[a b] exists", "expected ']'");
    err_msg("x.y[\"a\"b] exists", "expected ']'");
    // no blank between field and '['
    err_msg("x.y [a] exists", "expected a valid check operator");
}

#[test]
fn every_operator() {
    let ops: &[(&str, Op)] = &[
        ("=", Op::Eq),
        ("==", Op::Eq2),
        ("!=", Op::Ne),
        ("<", Op::Lt),
        ("<=", Op::Le),
        (">", Op::Gt),
        (">=", Op::Ge),
        ("contains", Op::Contains),
        ("icontains", Op::IContains),
        ("bcontains", Op::BContains),
        ("startswith", Op::StartsWith),
        ("bstartswith", Op::BStartsWith),
        ("endswith", Op::EndsWith),
        ("glob", Op::Glob),
        ("iglob", Op::IGlob),
        ("regex", Op::Regex),
        ("in", Op::In),
        ("intersects", Op::Intersects),
        ("pmatch", Op::PMatch),
    ];
    for &(s, op) in ops {
        let rhs = if op.is_list_op() { "(1, 2)" } else { "12" };
        let input = format!("f.f {s} {rhs}");
        let k = cmp(&input);
        assert_eq!(k.op, op, "{input}");
        assert_eq!(k.op.as_str(), s);
        assert_eq!(k.modifier, None);
        assert_eq!(c(&input), input);
    }
    let e = parse("f.f exists").unwrap();
    assert!(matches!(e, Expr::Exists(Operand::Field(ref f), _) if f.name == "f.f"));
    err_msg("f.f ~ 1", "expected a valid check operator: one of 'exists', '<=', '<'");
}

#[test]
fn operator_spacing() {
    // symbolic operators need no blanks
    assert_eq!(c("a.b=1"), "a.b = 1");
    assert_eq!(c("a.b==1"), "a.b == 1");
    assert_eq!(c("a.b!=x"), "a.b != x");
    assert_eq!(c("a.b<=1"), "a.b <= 1");
    assert_eq!(c("a.b>1"), "a.b > 1");
    // word operators need a blank after them (any blank, including a newline)
    err_msg("a.b containsx", "expected a blank after operator 'contains'");
    err_msg("a.b glob\"x\"", "expected a blank after operator 'glob'");
    assert_eq!(c("a.b contains\nx"), "a.b contains x");
    assert_eq!(c("a.b regex\t'^x$'"), "a.b regex ^x$");
    // list operators do not
    assert_eq!(c("a.b in(x)"), "a.b in (x)");
    assert_eq!(c("a.b intersects(x)"), "a.b intersects (x)");
    assert_eq!(c("a.b pmatch(/x)"), "a.b pmatch (/x)");
    // `in` directly followed by an identifier is a list reference
    assert_eq!(c("a.b inlist"), "a.b in list");
}

#[test]
fn numbers() {
    assert_eq!(value("a.b < 0x1F"), "0x1F");
    assert_eq!(value("a.b < 0Xff"), "0Xff");
    assert_eq!(value("a.b > -12"), "-12");
    assert_eq!(value("a.b > +12"), "+12");
    assert_eq!(value("a.b >= 1.5"), "1.5");
    assert_eq!(value("a.b >= 1."), "1.");
    assert_eq!(value("a.b >= 1.5e+3"), "1.5e+3");
    assert_eq!(value("a.b >= 2E-10"), "2E-10");
    err_msg("a.b < 1e5", "unexpected token after '1'");
    err_msg("a.b < 0x", "unexpected token after '0'");
    err_msg("a.b < 0x1g", "unexpected token after '0x1'");
    err_msg("a.b < abc", "expected a number value or a field with a valid transformer");
    err_msg("a.b < .5", "expected a number value");
    err_msg("a.b < \"1\"", "expected a number value");
    // numbers after string operators are plain strings
    assert_eq!(value("a.b = 1e5"), "1e5");
}

#[test]
fn bare_strings() {
    assert_eq!(value("a.b = /usr/bin/*"), "/usr/bin/*");
    assert_eq!(value("a.b = !x[1]:y"), "!x[1]:y");
    assert_eq!(value("a.b = héllo"), "héllo");
    assert_eq!(value("a.b = a\\b"), "a\\b");
    assert_eq!(value("a.b = x\u{8}y"), "x\u{8}y");
    // a bare right side that looks like a field is a string
    let k = cmp("a.b = c.d");
    assert!(matches!(k.right, Rhs::Value(ref v, _) if v == "c.d"));
    // bare strings stop at ( ) , = quotes and spaces
    err_msg("a.b = x,y", "unexpected token after 'x'");
    err_msg("a.b = x(y)", "unexpected token after 'x'");
    err_msg("a.b = x=y", "unexpected token after 'x'");
    err_msg("a.b = ", "expected a string value or a field with a valid transformer");
    err_msg("a.b = (x)", "expected a string value");
}

#[test]
fn quoted_strings_and_escapes() {
    assert_eq!(value(r#"a.b = "x y""#), "x y");
    assert_eq!(value("a.b = 'x y'"), "x y");
    assert_eq!(value(r#"a.b = """#), "");
    assert_eq!(value(r#"a.b = "it's""#), "it's");
    assert_eq!(value(r#"a.b = 'say "hi"'"#), "say \"hi\"");
    assert_eq!(value(r#"a.b = "\b\f\n\r\t""#), "\u{8}\u{c}\n\r\t");
    assert_eq!(value(r#"a.b = "a\\b""#), "a\\b");
    assert_eq!(value(r#"a.b = "a\/b""#), "a/b");
    assert_eq!(value(r#"a.b = "\x41\x7a""#), "Az");
    assert_eq!(value(r#"a.b = "\xc3\xa9""#), "é");
    assert_eq!(value(r#"a.b = "\x00""#), "\0");
    // legacy quirk: backslash-space is a backslash (the space is consumed)
    assert_eq!(value(r#"a.b = "a\ b""#), "a\\b");
    assert_eq!(value(r#"a.b = "say \"hi\"""#), "say \"hi\"");
    assert_eq!(value(r#"a.b = 'it\'s'"#), "it's");
    assert_eq!(value(r#"a.b = "a\\""#), "a\\");
    assert_eq!(value("a.b = \"line\nbreak\""), "line\nbreak");
    assert_eq!(value("a.b = \"日本語 ✓\""), "日本語 ✓");
    assert_eq!(value("a.b = 'a,b=(c)'"), "a,b=(c)");

    err_msg(r#"a.b = 'it\"s'"#, "invalid \\\" escape in '-quoted string");
    err_msg(r#"a.b = "it\'s""#, "invalid \\' escape in \"-quoted string");
    err_msg(r#"a.b = "\q""#, "unsupported string escape sequence");
    err_msg(r#"a.b = "\u0041""#, "unsupported string escape sequence");
    err_msg(r#"a.b = "\é""#, "unsupported string escape sequence");
    err_msg(r#"a.b = "\x4""#, "unsupported string escape sequence");
    err_msg(r#"a.b = "\xzz""#, "unsupported string escape sequence");
    err_msg(r#"a.b = "\xff""#, "invalid UTF-8");
    err_msg(r#"a.b = "abc"#, "missing closing quote");
    err_msg(r#"a.b = 'abc"#, "missing closing quote");
    err_msg(r#"a.b = "abc\""#, "missing closing quote");
    err_msg("a.b = \"a\0b\"", "missing closing quote");
    err_msg(r#"a.b = "abc\"#, "missing closing quote");
}

#[test]
fn escape_error_positions() {
    let e = err("a.b = \"ok\\qx\"");
    assert_eq!(e.pos, Pos { idx: 9, line: 1, col: 10 });
    let e = err("a.b = \"x\ny\\q\"");
    assert_eq!(e.pos, Pos { idx: 10, line: 2, col: 2 });
    let e = err("a.b =\n  \"unterminated");
    assert_eq!(e.pos, Pos { idx: 8, line: 2, col: 3 });
}

#[test]
fn lists() {
    let k = cmp("a.b in (x, \"y z\", 'w', 1)");
    assert!(matches!(&k.right, Rhs::List(v, _) if v == &["x", "y z", "w", "1"]));
    let k = cmp("a.b in ()");
    assert!(matches!(&k.right, Rhs::List(v, _) if v.is_empty()));
    assert_eq!(c("a.b in (  )"), "a.b in ()");
    assert_eq!(c("a.b in (\n a ,\n b\n)"), "a.b in (a, b)");
    assert_eq!(c("a.b in (a.b, c.d)"), "a.b in (a.b, c.d)");
    assert_eq!(c("a.b in (\"\", x)"), "a.b in (\"\", x)");
    err_msg("a.b in (a,)", "expected a string value");
    err_msg("a.b in (,a)", "expected ')'");
    err_msg("a.b in (a b)", "expected ')'");
    err_msg("a.b in (a", "expected ')'");
    err_msg("a.b in (\"\\q\")", "unsupported string escape sequence");
    // list elements cannot be transformers
    err_msg("x.y in (b64(f.f))", "expected ')'");
    err_msg("a.b in 'x'", "expected a list, an identifier, or a field with a valid transformer");
    err_msg("a.b in", "expected a list, an identifier");
}

#[test]
fn list_references() {
    let k = cmp("proc.name in shell_binaries");
    assert!(matches!(&k.right, Rhs::ListRef(n, p) if n == "shell_binaries" && p.idx == 13));
    assert_eq!(c("proc.name pmatch my_paths"), "proc.name pmatch my_paths");
    assert_eq!(c("proc.name intersects l"), "proc.name intersects l");
    err_msg("proc.name in a.b", "unexpected token after 'a'");
}

#[test]
fn modifiers() {
    for (s, m) in [("oneof", Modifier::OneOf), ("anyof", Modifier::AnyOf), ("allof", Modifier::AllOf)] {
        let k = cmp(&format!("proc.name startswith {s} (a, b)"));
        assert_eq!(k.op, Op::StartsWith);
        assert_eq!(k.modifier, Some(m));
        assert!(matches!(&k.right, Rhs::List(v, _) if v == &["a", "b"]));
        let k = cmp(&format!("proc.name == {s} my_list"));
        assert_eq!(k.op, Op::Eq2);
        assert_eq!(k.modifier, Some(m));
        assert!(matches!(&k.right, Rhs::ListRef(n, _) if n == "my_list"));
        // the plain-string fallback
        assert_eq!(value(&format!("proc.name = {s}")), s);
        assert_eq!(value(&format!("proc.name = {s}x")), format!("{s}x"));
        assert_eq!(c(&format!("proc.name = {s} and x")), format!("(proc.name = {s} and x)"));
        assert_eq!(c(&format!("proc.name = {s} or x")), format!("(proc.name = {s} or x)"));
        err_msg(&format!("proc.name = {s} not x"), &format!("unexpected token after '{s}'"));
        err_msg(&format!("proc.name = {s}(a)"), &format!("unexpected token after '{s}'"));
        assert_eq!(c(&format!("(proc.name = {s})")), format!("proc.name = {s}"));
        assert_eq!(c(&format!("proc.name = {s} ()")), format!("proc.name = {s} ()"));
        assert_eq!(c(&format!("proc.name glob {s}\n( '*a' )")), format!("proc.name glob {s} (*a)"));
        // identifiers that merely start with a keyword are list names
        assert_eq!(c(&format!("proc.name = {s} android")), format!("proc.name = {s} android"));
        assert_eq!(c(&format!("proc.name = {s} notes")), format!("proc.name = {s} notes"));
    }
    assert_eq!(c("a.b != oneof (x)"), "a.b != oneof (x)");
    assert_eq!(c("a.b regex anyof ('^a', '^b')"), "a.b regex anyof (^a, ^b)");
    // not allowed with numeric or list operators: the word is then parsed as a list name
    err_msg("a.b in oneof (x)", "unexpected token after 'oneof'");
    err_msg("a.b < oneof (1)", "expected a number value");
    // modifier lists cannot hold transformers
    err_msg("a.b = oneof tolower(c.d)", "unexpected token after 'tolower'");
}

#[test]
fn transformers() {
    for kind in TransformerKind::ALL {
        let input = format!("{}(f.f) = x", kind.name());
        let k = cmp(&input);
        let Operand::Transformer(t) = &k.left else { panic!("{input}") };
        assert_eq!(t.kind, kind);
        assert_eq!(t.args.len(), 1);
        assert!(matches!(&t.args[0], TArg::Field(f) if f.name == "f.f"));
        assert_eq!(c(&input), input);
        // right side too
        let input = format!("g.g = {}(f.f)", kind.name());
        assert!(matches!(cmp(&input).right, Rhs::Transformer(ref t) if t.kind == kind));
        assert_eq!(c(&input), input);
        // no blank between name and '('
        let spaced = format!("{} (f.f) = x", kind.name());
        assert!(parse(&spaced).is_err(), "{spaced}");
        // blanks inside are fine
        assert_eq!(c(&format!("{}( f.f ) = x", kind.name())), format!("{}(f.f) = x", kind.name()));
    }
    assert_eq!(c("tolower(toupper(f.f)) = x"), "tolower(toupper(f.f)) = x");
    assert_eq!(c("len(f.f) > 3"), "len(f.f) > 3");
    assert_eq!(c("a.b < len(f.f)"), "a.b < len(f.f)");
    assert_eq!(c("a.b in b64(f.f)"), "a.b in b64(f.f)");
    assert_eq!(c("tolower(f.f) exists"), "tolower(f.f) exists");
    assert_eq!(c("concat(a.b, \"-\", c.d, 12, 0x1f) = x"), "concat(a.b,\"-\",c.d,12,0x1f) = x");
    assert_eq!(
        c("join( \", \" , ( a.b , tolower(c.d) , 'x' , 1 ) ) = z"),
        "join(\", \",(a.b, tolower(c.d), \"x\", 1)) = z"
    );
    assert_eq!(c("join(\",\", ()) = z"), "join(\",\",()) = z");
    assert_eq!(c("concat(f.f[1], g.g[\"a b\"]) = z"), "concat(f.f[1],g.g[\"a b\"]) = z");
    let k = cmp("join(\",\", (a.b, 1)) = z");
    let Operand::Transformer(t) = &k.left else { panic!() };
    assert!(matches!(&t.args[0], TArg::Str(s, _) if s == ","));
    assert!(
        matches!(&t.args[1], TArg::List(v, _) if v.len() == 2 && matches!(&v[1], TArg::Num(n, _) if n == "1"))
    );
    // getopt with its field argument
    let k = cmp("getopt(proc.args, \"nt:\")[t] = 1");
    let Operand::Transformer(t) = &k.left else { panic!() };
    assert_eq!(t.kind, TransformerKind::Getopt);
    assert_eq!(t.arg.as_deref(), Some("t"));
    assert!(matches!(&t.args[1], TArg::Str(s, _) if s == "nt:"));
    assert_eq!(c("getopt(proc.args, \"nt:\")[t] = 1"), "getopt(proc.args,\"nt:\")[t] = 1");
    assert_eq!(c("a.b = getopt(proc.args,'x')[\"\"]"), "a.b = getopt(proc.args,\"x\")[\"\"]");
    for kind in TransformerKind::ALL.into_iter().filter(|k| *k != TransformerKind::Getopt) {
        let e = err(&format!("{}(f.f)[x] = 1", kind.name()));
        assert_eq!(e.message, format!("transformer '{}' does not support field arguments", kind.name()));
        assert_eq!(e.pos.idx as usize, kind.name().len() + 5);
    }
    err_msg("a.b = tolower(f.f)[x]", "transformer 'tolower' does not support field arguments");
    // argument errors
    err_msg("tolower() = 1", "expected a transformer argument");
    err_msg("tolower(f.f,) = 1", "expected a transformer argument");
    err_msg("tolower(f.f = 1", "expected ')' closing the 'tolower' transformer");
    err_msg("tolower(bare) = 1", "expected a transformer argument");
    err_msg("join(\",\", ((a.b))) = 1", "expected a transformer list element");
    err_msg("join(\",\", (a.b,)) = 1", "expected a transformer list element");
    err_msg("join(\",\", (a.b c.d)) = 1", "expected ')' or ','");
    err_msg("tolower(f.f)", "expected a valid check operator");
    // unknown names are identifiers followed by junk
    err_msg("upper(f.f) = 1", "unexpected token after 'upper'");
}

#[test]
fn val() {
    let k = cmp("evt.arg.res = val(evt.arg.res)");
    assert!(matches!(&k.right, Rhs::Val(f) if f.name == "evt.arg.res" && f.arg.is_none()));
    assert_eq!(c("a.b = val( c.d )"), "a.b = val(c.d)");
    assert_eq!(c("a.b = val(c.d[x])"), "a.b = val(c.d[x])");
    assert_eq!(c("a.b < val(c.d)"), "a.b < val(c.d)");
    assert_eq!(c("a.b in val(c.d)"), "a.b in val(c.d)");
    assert_eq!(c("tolower(a.b) = val(c.d)"), "tolower(a.b) = val(c.d)");
    err_msg("a.b = val(c.d)[x]", "transformer 'val' does not support field arguments");
    err_msg("a.b = val(tolower(c.d))", "expected a field within 'val' transformer");
    err_msg("a.b = val(c)", "expected a field within 'val' transformer");
    err_msg("a.b = val(c.d", "expected ')' closing the 'val' transformer");
    err_msg("val(c.d) = 1", "unexpected token after 'val'");
    err_msg("tolower(val(c.d)) = 1", "expected a transformer argument");
    err_msg("a.b in (val(c.d))", "expected ')'");
    // `val` with a blank before '(' is a bare string
    err_msg("a.b = val (c.d)", "unexpected token after 'val'");
}

// ----- positions ------------------------------------------------------------------------------

#[test]
fn node_positions() {
    let e = parse("a.b = 1 and\n  not c.d exists or\r\n(x)").unwrap();
    let Expr::Or(ors, or_pos) = &e else { panic!("{e:?}") };
    assert_eq!(*or_pos, Pos { idx: 0, line: 1, col: 1 });
    let Expr::And(ands, and_pos) = &ors[0] else { panic!() };
    assert_eq!(*and_pos, Pos { idx: 0, line: 1, col: 1 });
    let Expr::Compare(k) = &ands[0] else { panic!() };
    assert_eq!(k.pos, Pos { idx: 0, line: 1, col: 1 });
    assert!(matches!(&k.right, Rhs::Value(_, p) if *p == Pos { idx: 6, line: 1, col: 7 }));
    let Expr::Not(inner, not_pos) = &ands[1] else { panic!() };
    assert_eq!(*not_pos, Pos { idx: 14, line: 2, col: 3 });
    assert_eq!(inner.pos(), Pos { idx: 18, line: 2, col: 7 });
    // "\r\n" advances two lines, as upstream
    assert_eq!(ors[1].pos(), Pos { idx: 34, line: 4, col: 2 });
}

#[test]
fn error_positions_multiline() {
    let e = err("a.b = 1 and\n  c.d ~ 2");
    assert_eq!(e.pos, Pos { idx: 18, line: 2, col: 7 });
    assert!(e.to_string().contains("at line 2 column 7 (offset 18)"), "{e}");
    let e = err("a\nand\n\tb c");
    assert_eq!(e.pos, Pos { idx: 9, line: 3, col: 4 });
    let e = err("x.y = 1 and\n(\n  a.b in (1,\n  2\n  3))");
    assert_eq!((e.pos.line, e.pos.col), (5, 3));
    let e = err("tolower(f.f)\n[x] = 1");
    assert_eq!((e.pos.line, e.pos.col), (2, 1));
}
