//! Canonical printer details and the visitor / substitution helpers.

use harrier_condition::*;

const P: Pos = Pos { idx: 0, line: 0, col: 0 };

fn field(name: &str, arg: Option<&str>) -> FieldRef {
    FieldRef { name: name.into(), arg: arg.map(str::to_string), pos: P }
}

fn cmp(left: Operand, op: Op, modifier: Option<Modifier>, right: Rhs) -> Expr {
    Expr::Compare(Box::new(Compare { left, op, modifier, right, pos: P }))
}

fn eq_value(v: &str) -> Expr {
    cmp(Operand::Field(field("a.b", None)), Op::Eq, None, Rhs::Value(v.into(), P))
}

#[test]
fn value_quoting() {
    let cases: &[(&str, &str)] = &[
        ("plain", "a.b = plain"),
        ("/usr/bin/*", "a.b = /usr/bin/*"),
        ("é", "a.b = é"),
        ("", "a.b = \"\""),
        ("a b", "a.b = \"a b\""),
        ("a=b", "a.b = \"a=b\""),
        ("it's", "a.b = \"it's\""),
        ("say \"hi\"", "a.b = \"say \\\"hi\\\"\""),
        ("back\\slash", "a.b = \"back\\\\slash\""),
        ("\u{8}\u{c}\n\r\t", "a.b = \"\\b\\f\\n\\r\\t\""),
        ("nul\0", "a.b = \"nul\\x00\""),
        ("(x)", "a.b = \"(x)\""),
        ("x,y", "a.b = \"x,y\""),
        ("v\u{b}t", "a.b = \"v\u{b}t\""),
        ("oneof", "a.b = oneof"),
    ];
    for (v, want) in cases {
        let e = eq_value(v);
        let printed = canonical(&e);
        assert_eq!(&printed, want);
        let back = parse(&printed).unwrap();
        assert!(back.eq_ignoring_pos(&e), "{printed}");
    }
    assert!(value_needs_quotes(""));
    assert!(value_needs_quotes("a b"));
    assert!(!value_needs_quotes("a[b]"));
    assert!(field_arg_needs_quotes("a[b]"));
    assert!(!field_arg_needs_quotes("a(b),c"));
    assert!(field_arg_needs_quotes("a=b"));
    let mut s = String::new();
    write_quoted(&mut s, "a\"b\\c\0");
    assert_eq!(s, r#""a\"b\\c\x00""#);
}

#[test]
fn numbers_are_never_quoted() {
    let e = cmp(Operand::Field(field("a.b", None)), Op::Lt, None, Rhs::Value("-1.5e+3".into(), P));
    assert_eq!(e.to_string(), "a.b < -1.5e+3");
}

#[test]
fn structure_printing() {
    let id = |n: &str| Expr::Identifier(n.into(), P);
    let e = Expr::And(
        vec![id("a"), Expr::Or(vec![id("b"), id("c"), id("d")], P), Expr::Not(Box::new(id("e")), P)],
        P,
    );
    assert_eq!(e.to_string(), "(a and (b or c or d) and not e)");
    let e = Expr::Not(Box::new(Expr::Not(Box::new(id("x")), P)), P);
    assert_eq!(e.to_string(), "not (not x)");
    assert!(parse(&e.to_string()).unwrap().eq_ignoring_pos(&e));
    let e = Expr::Not(Box::new(id("not")), P);
    assert_eq!(e.to_string(), "not (not)");
    assert!(parse(&e.to_string()).unwrap().eq_ignoring_pos(&e));
    let e = Expr::Exists(Operand::Field(field("f.f", Some(""))), P);
    assert_eq!(e.to_string(), "f.f[\"\"] exists");
    let e = cmp(
        Operand::Field(field("f.f", Some("a b"))),
        Op::StartsWith,
        Some(Modifier::AllOf),
        Rhs::List(vec!["x".into(), "y z".into()], P),
    );
    assert_eq!(e.to_string(), "f.f[\"a b\"] startswith allof (x, \"y z\")");
    let t = Transformer {
        kind: TransformerKind::Join,
        args: vec![
            TArg::Str(",".into(), P),
            TArg::List(vec![TArg::Field(field("a.b", None)), TArg::Num("1".into(), P)], P),
        ],
        arg: None,
        pos: P,
    };
    assert_eq!(t.to_string(), "join(\",\",(a.b, 1))");
    assert_eq!(Rhs::Val(field("c.d", Some("0"))).to_string(), "val(c.d[0])");
    assert_eq!(Rhs::ListRef("l".into(), P).to_string(), "l");
    assert_eq!(Rhs::List(vec![], P).to_string(), "()");
    assert_eq!(Operand::Transformer(t.clone()).to_string(), t.to_string());
    assert_eq!(TArg::Str(String::new(), P).to_string(), "\"\"");
    assert_eq!(Op::Eq2.to_string(), "==");
    assert_eq!(Modifier::AnyOf.to_string(), "anyof");
    assert_eq!(TransformerKind::B64.to_string(), "b64");
}

#[test]
fn eq_ignoring_pos_distinguishes_content() {
    let a = parse("a.b = 1 and c").unwrap();
    let b = parse("  a.b   =   1\nand   c").unwrap();
    assert!(a.eq_ignoring_pos(&b));
    for other in
        ["a.b = 2 and c", "a.b == 1 and c", "a.b = 1 or c", "a.b[x] = 1 and c", "a.b = 1 and d", "a.b = 1"]
    {
        assert!(!a.eq_ignoring_pos(&parse(other).unwrap()), "{other}");
    }
    assert!(!parse("x.y = oneof (a)").unwrap().eq_ignoring_pos(&parse("x.y = anyof (a)").unwrap()));
    assert!(parse("x.y = (a)").is_err());
    assert!(!parse("x.y in (a)").unwrap().eq_ignoring_pos(&parse("x.y in a").unwrap()));
    assert!(!parse("x.y = tolower(a.b)").unwrap().eq_ignoring_pos(&parse("x.y = toupper(a.b)").unwrap()));
    assert!(!parse("x.y = concat(a.b,1)")
        .unwrap()
        .eq_ignoring_pos(&parse("x.y = concat(a.b,\"1\")").unwrap()));
}

#[test]
fn walkers() {
    let e = parse(
        "m1 and (not m2 or a.b in list1) and tolower(f.g) = val(h.i[2]) or x.y startswith anyof l2 or m1",
    )
    .unwrap();
    let mut ids = Vec::new();
    walk_identifiers(&e, &mut |n, p| ids.push((n.to_string(), p.idx)));
    assert_eq!(ids, vec![("m1".to_string(), 0), ("m2".to_string(), 12), ("m1".to_string(), 93)]);
    let mut lists = Vec::new();
    walk_list_refs(&e, &mut |n, _| lists.push(n.to_string()));
    assert_eq!(lists, ["list1", "l2"]);
    let mut fields = Vec::new();
    walk_fields(&e, &mut |f| fields.push(f.to_string()));
    assert_eq!(fields, ["a.b", "f.g", "h.i[2]", "x.y"]);
    let e = parse("join(\",\", (a.a, concat(b.b, \"x\"), 1)) = getopt(c.c, \"x\")[x]").unwrap();
    let mut fields = Vec::new();
    walk_fields(&e, &mut |f| fields.push(f.name.clone()));
    assert_eq!(fields, ["a.a", "b.b", "c.c"]);
    let mut count = 0;
    visit_exprs(&parse("a and (b or not c)").unwrap(), &mut |_| count += 1);
    assert_eq!(count, 6); // and, a, or, b, not, c
}

#[test]
fn substitution() {
    let e = parse("m1 and not (m2 or m1) and a.b = 1").unwrap();
    let body = parse("proc.name = bash").unwrap();
    let out = substitute_identifiers(e, &mut |n, _| (n == "m1").then(|| body.clone()));
    assert_eq!(canonical(&out), "(proc.name = bash and not (m2 or proc.name = bash) and a.b = 1)");

    // replacements are not walked again
    let out =
        substitute_identifiers(parse("m").unwrap(), &mut |n, _| (n == "m").then(|| parse("m or x").unwrap()));
    assert_eq!(canonical(&out), "(m or x)");

    // fallible version: first error in source order, with its position
    let e = parse("a and\n  undefined1 or undefined2").unwrap();
    let r: Result<Expr, String> = try_substitute_identifiers(e, &mut |n, p| {
        if n == "a" {
            Ok(Some(parse("x.y exists").unwrap()))
        } else {
            Err(format!("Undefined macro '{n}' used in filter at line {}", p.line))
        }
    });
    assert_eq!(r.unwrap_err(), "Undefined macro 'undefined1' used in filter at line 2");
    let r: Result<Expr, ()> = try_substitute_identifiers(parse("a or b").unwrap(), &mut |_, _| Ok(None));
    assert_eq!(canonical(&r.unwrap()), "(a or b)");
}
