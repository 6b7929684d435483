//! Property tests: random trees print → parse → print to the same string and an equal tree, and
//! arbitrary input never panics (and round-trips when it parses).

use harrier_condition::*;
use proptest::prelude::*;

const P: Pos = Pos { idx: 0, line: 0, col: 0 };

fn ident() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z][a-zA-Z0-9_]{0,6}",
        1 => prop::sample::select(vec![
            "and", "or", "not", "notx", "andy", "exists", "in", "oneof", "anyof", "val", "tolower", "getopt", "b64",
        ])
        .prop_map(str::to_string),
    ]
}

fn list_name_after_modifier() -> impl Strategy<Value = String> {
    ident().prop_filter("and/or/not end a modifier list", |s| !matches!(s.as_str(), "and" | "or" | "not"))
}

fn field_name() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9_]{0,4}(\\.[a-zA-Z][a-zA-Z0-9_]{0,4}){1,2}"
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof!["[+-]?[0-9]{1,4}(\\.[0-9]{0,3})?([eE][+-][0-9]{1,2})?", "0[xX][0-9a-fA-F]{1,6}",]
}

fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<String>(),
        3 => "[a-z/*.:!\\[\\]-]{1,8}",
        2 => prop::sample::select(vec![
            "", " ", "oneof", "anyof", "allof", "and", "or", "not", "val(", "tolower(x", "a b", "\\", "\\ ", "'", "\"",
            "(", ")", ",", "=", "\u{b}", "\u{c}", "\u{8}", "\0", "\r\n", "x\ty", "é ü", "日本", "[x]", "]", "a=b",
            "1e5", "0x1F", "-1", "\\x41", "\\\"", "'\"'",
        ])
        .prop_map(str::to_string),
    ]
}

fn field() -> impl Strategy<Value = FieldRef> {
    (field_name(), prop::option::of(string())).prop_map(|(name, arg)| FieldRef { name, arg, pos: P })
}

fn transformer() -> impl Strategy<Value = Transformer> {
    let leaf = prop_oneof![
        field().prop_map(TArg::Field),
        string().prop_map(|s| TArg::Str(s, P)),
        number().prop_map(|n| TArg::Num(n, P)),
    ];
    // Nested transformers: recursion over a TArg tree whose interior nodes are transformers.
    let targ = leaf.prop_recursive(3, 12, 3, |inner| {
        (prop::sample::select(TransformerKind::ALL.to_vec()), prop::collection::vec(inner, 1..3), string())
            .prop_map(|(kind, args, a)| {
                let arg = if kind == TransformerKind::Getopt { Some(a) } else { None };
                TArg::Transformer(Transformer { kind, args, arg, pos: P })
            })
    });
    let list = prop::collection::vec(targ.clone(), 0..3).prop_map(|v| TArg::List(v, P));
    let arg = prop_oneof![3 => targ, 1 => list];
    (
        prop::sample::select(TransformerKind::ALL.to_vec()),
        prop::collection::vec(arg, 1..4),
        prop::option::of(string()),
    )
        .prop_map(|(kind, args, a)| {
            let arg = if kind == TransformerKind::Getopt { a } else { None };
            Transformer { kind, args, arg, pos: P }
        })
}

fn operand() -> impl Strategy<Value = Operand> {
    prop_oneof![3 => field().prop_map(Operand::Field), 1 => transformer().prop_map(Operand::Transformer)]
}

fn rhs_dynamic() -> impl Strategy<Value = Rhs> {
    prop_oneof![field().prop_map(Rhs::Val), transformer().prop_map(Rhs::Transformer)]
}

fn value_list() -> impl Strategy<Value = Rhs> {
    prop::collection::vec(string(), 0..4).prop_map(|v| Rhs::List(v, P))
}

const NUM_OPS: [Op; 4] = [Op::Lt, Op::Le, Op::Gt, Op::Ge];
const STR_OPS: [Op; 12] = [
    Op::Eq,
    Op::Eq2,
    Op::Ne,
    Op::Contains,
    Op::IContains,
    Op::BContains,
    Op::StartsWith,
    Op::BStartsWith,
    Op::EndsWith,
    Op::Glob,
    Op::IGlob,
    Op::Regex,
];
const LIST_OPS: [Op; 3] = [Op::In, Op::Intersects, Op::PMatch];

fn compare() -> impl Strategy<Value = Expr> {
    let num = (
        operand(),
        prop::sample::select(NUM_OPS.to_vec()),
        prop_oneof![3 => number().prop_map(|n| Rhs::Value(n, P)), 1 => rhs_dynamic()],
    )
        .prop_map(|(l, op, r)| (l, op, None, r));
    let strv = (
        operand(),
        prop::sample::select(STR_OPS.to_vec()),
        prop_oneof![3 => string().prop_map(|s| Rhs::Value(s, P)), 1 => rhs_dynamic()],
    )
        .prop_map(|(l, op, r)| (l, op, None, r));
    let modified = (
        operand(),
        prop::sample::select(STR_OPS.to_vec()),
        prop::sample::select(vec![Modifier::OneOf, Modifier::AnyOf, Modifier::AllOf]),
        prop_oneof![value_list(), list_name_after_modifier().prop_map(|n| Rhs::ListRef(n, P))],
    )
        .prop_map(|(l, op, m, r)| (l, op, Some(m), r));
    let list = (
        operand(),
        prop::sample::select(LIST_OPS.to_vec()),
        prop_oneof![2 => value_list(), 1 => ident().prop_map(|n| Rhs::ListRef(n, P)), 1 => rhs_dynamic()],
    )
        .prop_map(|(l, op, r)| (l, op, None, r));
    prop_oneof![num, strv, modified, list].prop_map(|(left, op, modifier, right)| {
        Expr::Compare(Box::new(Compare { left, op, modifier, right, pos: P }))
    })
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        1 => ident().prop_map(|n| Expr::Identifier(n, P)),
        1 => operand().prop_map(|o| Expr::Exists(o, P)),
        3 => compare(),
    ];
    leaf.prop_recursive(5, 40, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(|v| Expr::And(v, P)),
            prop::collection::vec(inner.clone(), 2..4).prop_map(|v| Expr::Or(v, P)),
            inner.prop_map(|e| Expr::Not(Box::new(e), P)),
        ]
    })
}

fn token_soup() -> impl Strategy<Value = String> {
    let tok = prop::sample::select(vec![
        "a",
        "b.c",
        "f.f[x]",
        "f.f[\"\"]",
        " ",
        "\t",
        "\n",
        "(",
        ")",
        "not ",
        "not(",
        "and ",
        "or ",
        "and",
        "or",
        "exists",
        "=",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        " in ",
        "in",
        " pmatch ",
        " contains ",
        "glob ",
        "oneof ",
        "anyof",
        "(x, y)",
        "()",
        ",",
        "'q'",
        "\"q\\n\"",
        "\"\\q\"",
        "\"",
        "'",
        "tolower(",
        "getopt(",
        "join(",
        "val(",
        "[",
        "]",
        "1",
        "0x1F",
        "-2.5e+3",
        "é",
        "\\",
        "\0",
        "\u{b}",
        "\u{8}",
        "\r",
    ]);
    prop::collection::vec(tok, 0..24).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn print_parse_print_is_identity(e in expr()) {
        let printed = canonical(&e);
        let parsed = match parse(&printed) {
            Ok(p) => p,
            Err(err) => return Err(TestCaseError::fail(format!("{printed:?} does not parse: {err}"))),
        };
        prop_assert!(parsed.eq_ignoring_pos(&e), "tree changed:\n{printed}\n{e:?}\n{parsed:?}");
        prop_assert_eq!(canonical(&parsed), printed.clone());
        prop_assert_eq!(parsed.to_string(), printed);
    }

    #[test]
    fn arbitrary_input_never_panics(s in any::<String>()) {
        if let Ok(e) = parse(&s) {
            let printed = canonical(&e);
            let again = parse(&printed).map_err(|err| TestCaseError::fail(format!("{printed:?}: {err}")))?;
            prop_assert!(again.eq_ignoring_pos(&e));
            prop_assert_eq!(canonical(&again), printed);
        }
    }

    #[test]
    fn token_soup_never_panics_and_round_trips(s in token_soup()) {
        match parse(&s) {
            Ok(e) => {
                let printed = canonical(&e);
                let again = parse(&printed).map_err(|err| TestCaseError::fail(format!("{s:?} -> {printed:?}: {err}")))?;
                prop_assert!(again.eq_ignoring_pos(&e), "{s:?} -> {printed:?}");
                prop_assert_eq!(canonical(&again), printed);
            }
            Err(err) => {
                prop_assert!(err.pos.idx as usize <= s.len());
                prop_assert!(err.pos.line >= 1 && err.pos.col >= 1);
                prop_assert!(!err.message.is_empty());
            }
        }
    }
}
