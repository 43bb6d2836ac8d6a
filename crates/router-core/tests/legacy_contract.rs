//! Reliability: the legacy strategy equals a straightforward re-implementation of steps
//! 3–6 of the contract (complexity → candidates → score → decision, plus step 5's
//! fallback), written here with plain loops and f64 math, independent of the optimised
//! code (SIMD searchers, ASCII fast paths). Every context has a distinct task, so the
//! routing cache never answers: each decision is computed in full.
//!
//! Random model sets (tiers, capabilities, latency targets and costs on the rule
//! boundaries), random availability, recorded performance (moving averages, success
//! rates), weight changes by `optimize`, and tasks mixing keywords, structural patterns,
//! non-ASCII text and every kind of JS whitespace.

use proptest::prelude::*;
use router_core::performance::Outcome;
use router_core::{
    DecisionKind, ModelConfig, Priority, RouteError, Router, RouterOptions, RoutingContext, Tier,
    TierPolicy,
};

// ---------------------------------------------------------------- the naive contract

/// JS `\s` (ECMAScript WhiteSpace + LineTerminator), spelled out.
const JS_WS: [char; 25] = [
    '\t', '\n', '\u{0B}', '\u{0C}', '\r', ' ', '\u{A0}', '\u{1680}', '\u{2000}', '\u{2001}',
    '\u{2002}', '\u{2003}', '\u{2004}', '\u{2005}', '\u{2006}', '\u{2007}', '\u{2008}', '\u{2009}',
    '\u{200A}', '\u{2028}', '\u{2029}', '\u{202F}', '\u{205F}', '\u{3000}', '\u{FEFF}',
];

/// Step 3, word for word.
fn naive_complexity(task: &str, has_caps: bool) -> f64 {
    let length = task.encode_utf16().count() as f64;
    let token_count = (length / 4.0).ceil();
    let lower = task.to_lowercase();
    let keywords = [
        "analyze",
        "implement",
        "optimize",
        "algorithm",
        "architecture",
        "debug",
    ];
    let mut k = 0;
    for word in lower.split(|c: char| JS_WS.contains(&c)) {
        let mut hit = false;
        for kw in keywords {
            if word.contains(kw) {
                hit = true;
            }
        }
        if hit {
            k += 1;
        }
    }
    let keyword = f64::min(1.0, k as f64 / 10.0);
    let patterns = [
        "{", "}", "(", ")", "[", "]", "=>", "function", "class", "if", "for",
    ];
    let mut s = 0;
    for p in patterns {
        if task.contains(p) {
            s += 1;
        }
    }
    let structural = f64::min(1.0, s as f64 / 15.0);
    let mut domain = false;
    if has_caps {
        for d in [
            "code",
            "api",
            "database",
            "security",
            "machine learning",
            "data science",
        ] {
            if lower.contains(d) {
                domain = true;
            }
        }
    }
    let domain_part = if domain { 0.1 } else { 0.0 };
    f64::min(
        1.0,
        f64::min(1.0, token_count / 1000.0) * 0.3 + keyword * 0.3 + structural * 0.3 + domain_part,
    )
}

#[derive(Clone, Debug, Default)]
struct NaivePerf {
    avg_latency: f64,
    usage: u64,
    errors: u64,
}

struct Naive {
    weights: [f64; 4], // latency, complexity, reliability, cost
}

#[derive(Debug, PartialEq)]
enum Expect {
    Scored {
        index: usize,
        confidence: f64,
        latency: f64,
        complexity: f64,
    },
    Fallback {
        index: usize,
    },
    NoEligible,
}

fn has(m: &ModelConfig, cap: &str) -> bool {
    m.capabilities.iter().any(|c| c == cap)
}

fn fallback_list(t: Tier) -> &'static [&'static str] {
    match t {
        Tier::Enterprise => &[
            "gemini-2.5-pro",
            "gemini-pro-vertex",
            "gemini-2.0-flash-thinking",
            "gemini-2.0-flash",
        ],
        Tier::Pro => &[
            "gemini-2.5-flash",
            "gemini-2.0-flash-thinking",
            "gemini-2.0-flash",
        ],
        Tier::Free => &["gemini-2.0-flash", "gemini-2.5-flash"],
    }
}

impl Naive {
    #[allow(clippy::too_many_arguments)]
    fn decide(
        &self,
        models: &[ModelConfig],
        available: &[bool],
        perf: &[NaivePerf],
        task: &str,
        user: Tier,
        latency_req: f64,
        caps: Option<&[String]>,
        legacy_policy: bool,
    ) -> Expect {
        let score = naive_complexity(task, caps.is_some());
        let mut best = -1.0;
        let mut found: Option<Expect> = None;
        for i in 0..models.len() {
            let m = &models[i];
            // step 4
            if (m.tier as u8) > (user as u8) || !available[i] {
                continue;
            }
            let keep = if score > 0.8 {
                has(m, "advanced-reasoning") || has(m, "code")
            } else if latency_req < 1000.0 {
                m.latency_target < 1200.0
            } else {
                true
            };
            if !keep {
                continue;
            }
            // step 6
            let target = if latency_req == 0.0 {
                2000.0
            } else {
                latency_req
            };
            let model_latency = if perf[i].usage > 0 && perf[i].avg_latency != 0.0 {
                perf[i].avg_latency
            } else {
                m.latency_target
            };
            let l = if model_latency <= 0.8 * target {
                1.0
            } else if model_latency <= target {
                0.8
            } else if model_latency <= 1.5 * target {
                0.5
            } else {
                0.1
            };
            let c = if score < 0.3 {
                if m.latency_target < 1000.0 {
                    1.0
                } else {
                    0.7
                }
            } else if score < 0.7 {
                if has(m, "reasoning") {
                    0.9
                } else {
                    0.6
                }
            } else if has(m, "advanced-reasoning") {
                1.0
            } else {
                0.4
            };
            let r = if perf[i].usage < 5 {
                0.8
            } else {
                let rate = (perf[i].usage - perf[i].errors) as f64 / perf[i].usage as f64;
                if rate > 0.1 {
                    rate
                } else {
                    0.1
                }
            };
            let cost = match user {
                Tier::Enterprise => 0.9,
                Tier::Pro => {
                    if m.cost_per_token < 3e-6 {
                        1.0
                    } else {
                        0.7
                    }
                }
                Tier::Free => {
                    if m.cost_per_token < 1e-6 {
                        1.0
                    } else {
                        0.3
                    }
                }
            };
            let mut total = 0.0;
            total += l * self.weights[0];
            total += c * self.weights[1];
            total += r * self.weights[2];
            total += cost * self.weights[3];
            if total > best {
                best = total;
                found = Some(Expect::Scored {
                    index: i,
                    confidence: if total < 0.95 { total } else { 0.95 },
                    latency: l,
                    complexity: c,
                });
            }
        }
        if let Some(e) = found {
            return e;
        }
        // step 5: the tier's list; strict: only models the user may use that are available
        for name in fallback_list(user) {
            for i in 0..models.len() {
                if models[i].name == *name {
                    if legacy_policy || (available[i] && models[i].tier as u8 <= user as u8) {
                        return Expect::Fallback { index: i };
                    }
                    break;
                }
            }
        }
        if legacy_policy {
            return Expect::Fallback { index: 0 };
        }
        for i in 0..models.len() {
            if available[i] && models[i].tier as u8 <= user as u8 {
                return Expect::Fallback { index: i };
            }
        }
        Expect::NoEligible
    }
}

// ---------------------------------------------------------------- generators

const NAMES: [&str; 6] = [
    "gemini-2.0-flash",
    "gemini-2.5-flash",
    "gemini-2.5-pro",
    "gemini-pro-vertex",
    "gemini-2.0-flash-thinking",
    "gemini-2.5-deep-think",
];
const CAPS: [&str; 5] = ["code", "reasoning", "advanced-reasoning", "vision", "Code"];
/// Latency targets and costs on the boundaries of the rules.
const TARGETS: [f64; 9] = [
    0.0, 500.0, 799.0, 999.0, 1000.0, 1199.0, 1200.0, 1600.0, 2500.0,
];
const COSTS: [f64; 6] = [0.0, 5e-7, 1e-6, 2.9e-6, 3e-6, 1e-5];
const REQS: [f64; 8] = [0.0, 1.0, 500.0, 999.0, 1000.0, 1500.0, 2000.0, 1e9];

fn tier(n: u8) -> Tier {
    [Tier::Free, Tier::Pro, Tier::Enterprise][n as usize % 3]
}

prop_compose! {
    fn model(i: usize)(t in 0u8..3, caps in prop::collection::vec(0usize..CAPS.len(), 0..4),
                       lt in 0usize..TARGETS.len(), c in 0usize..COSTS.len(),
                       real_name in any::<bool>()) -> ModelConfig {
        ModelConfig {
            // some models carry the names of the fallback lists, so step 5 finds them
            name: if real_name && i < NAMES.len() { NAMES[i].to_string() } else { format!("m{i}") },
            tier: tier(t),
            capabilities: caps.into_iter().map(|c| CAPS[c].to_string()).collect(),
            latency_target: TARGETS[lt],
            cost_per_token: COSTS[c],
            max_tokens: 8192.0,
        }
    }
}

fn models() -> impl Strategy<Value = Vec<ModelConfig>> {
    (1usize..7).prop_flat_map(|n| (0..n).map(model).collect::<Vec<_>>())
}

/// Pieces of tasks: keywords (any case), structural patterns, domain words, non-ASCII
/// text whose lower case differs in length, and every kind of whitespace.
const PIECES: [&str; 40] = [
    "analyze",
    "Implement",
    "OPTIMIZE",
    "algorithm",
    "architecture",
    "debug",
    "debugging",
    "code",
    "API",
    "database",
    "Security",
    "machine learning",
    "data science",
    "format",
    "if",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "=>",
    "function",
    "class",
    "x",
    "hello",
    "İmplement",
    "\u{212A}",
    "Σ",
    "ß",
    "日本語",
    "🙂",
    " ",
    "\t",
    "\u{85}",
    "\u{FEFF}",
    "\u{A0}",
    "\u{2028}",
    "\n",
    "  ",
];

fn task() -> impl Strategy<Value = String> {
    (
        prop::collection::vec((0usize..PIECES.len(), 1usize..4), 0..80),
        prop::sample::select(vec![0usize, 0, 0, 100, 3000, 3996, 4000, 4004, 6000]),
    )
        .prop_map(|(pieces, pad)| {
            let mut s = String::new();
            for (p, reps) in pieces {
                for _ in 0..reps {
                    s.push_str(PIECES[p]);
                }
                s.push(' ');
            }
            s.push_str(&"a".repeat(pad));
            s
        })
}

#[derive(Clone, Debug)]
enum Step {
    Route {
        task: String,
        tier: u8,
        prio: u8,
        req: usize,
        caps: Option<Vec<usize>>,
    },
    Perf {
        model: usize,
        latency: f64,
        success: bool,
    },
    Avail {
        model: usize,
        available: bool,
    },
    Optimize {
        failures: f64,
        latency: f64,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (task(), 0u8..3, 0u8..4, 0usize..REQS.len(),
              prop::option::of(prop::collection::vec(0usize..CAPS.len(), 0..3)))
            .prop_map(|(task, tier, prio, req, caps)| Step::Route { task, tier, prio, req, caps }),
        3 => (0usize..7, prop::sample::select(vec![0.0, 1.0, 400.0, 799.9, 800.0, 1000.0, 1500.0, 3000.0, 12345.6]), any::<bool>())
            .prop_map(|(model, latency, success)| Step::Perf { model, latency, success }),
        1 => (0usize..7, any::<bool>()).prop_map(|(model, available)| Step::Avail { model, available }),
        1 => (prop::sample::select(vec![0.0, 6.0]), prop::sample::select(vec![0.0, 2500.0]))
            .prop_map(|(failures, latency)| Step::Optimize { failures, latency }),
    ]
}

fn run(
    models: Vec<ModelConfig>,
    steps: Vec<Step>,
    legacy_policy: bool,
) -> Result<usize, TestCaseError> {
    let mut router = Router::new(RouterOptions {
        tier_policy: if legacy_policy {
            TierPolicy::Legacy
        } else {
            TierPolicy::Strict
        },
        ..RouterOptions::default()
    });
    router.set_models(models.clone());
    let n = models.len();
    let mut available = vec![true; n];
    let mut perf = vec![NaivePerf::default(); n];
    let mut naive = Naive {
        weights: [0.35, 0.1, 0.25, 0.15],
    };
    let mut decided = 0;
    for (s, st) in steps.into_iter().enumerate() {
        match st {
            Step::Route {
                task,
                tier: t,
                prio,
                req,
                caps,
            } => {
                // a distinct task per step: the routing cache never answers
                let task = format!("{task} #{s}");
                let caps: Option<Vec<String>> =
                    caps.map(|v| v.into_iter().map(|c| CAPS[c].to_string()).collect());
                let ctx = RoutingContext {
                    task: task.as_str().into(),
                    user_tier: tier(t),
                    priority: Priority::from_code(prio as u32).unwrap(),
                    latency_requirement: REQS[req],
                    token_budget: None,
                    capabilities: caps.as_deref(),
                    matched_custom_rules: &[],
                };
                let expect = naive.decide(
                    &models,
                    &available,
                    &perf,
                    &task,
                    tier(t),
                    REQS[req],
                    caps.as_deref(),
                    legacy_policy,
                );
                let got = router.select(&ctx, s as f64);
                let got = match got {
                    Ok(d) => match d.kind {
                        DecisionKind::Scored {
                            latency,
                            complexity,
                        } => Expect::Scored {
                            index: d.model_index,
                            confidence: d.confidence,
                            latency,
                            complexity,
                        },
                        DecisionKind::NoCandidates => {
                            prop_assert_eq!(d.confidence, 0.3);
                            Expect::Fallback {
                                index: d.model_index,
                            }
                        }
                        other => {
                            return Err(TestCaseError::fail(format!("unexpected kind {other:?}")))
                        }
                    },
                    Err(RouteError::NoEligibleModel) => Expect::NoEligible,
                    Err(e) => return Err(TestCaseError::fail(format!("unexpected error {e:?}"))),
                };
                prop_assert_eq!(&got, &expect, "step {} task {:?}", s, task);
                if !legacy_policy {
                    if let Expect::Scored { index, .. } | Expect::Fallback { index } = got {
                        prop_assert!(
                            models[index].tier as u8 <= t,
                            "no decision above the user's tier"
                        );
                    }
                }
                decided += 1;
            }
            Step::Perf {
                model,
                latency,
                success,
            } => {
                if model >= n {
                    continue;
                }
                router.record_performance(
                    &models[model].name,
                    Outcome {
                        latency_ms: latency,
                        success,
                        cost: 1e-6,
                        tokens: None,
                        now_epoch_ms: s as f64,
                    },
                );
                // Duplicate names (cannot come from a JS Map) never occur: names are unique.
                let p = &mut perf[model];
                p.avg_latency = if p.usage == 0 {
                    latency
                } else {
                    0.1 * latency + 0.9 * p.avg_latency
                };
                p.usage += 1;
                if !success {
                    p.errors += 1;
                }
            }
            Step::Avail {
                model,
                available: a,
            } => {
                if model < n {
                    router.set_availability(&models[model].name, a);
                    available[model] = a;
                }
            }
            Step::Optimize { failures, latency } => {
                router.optimize(failures, latency);
                let w = &mut naive.weights;
                if failures > 5.0 {
                    w[2] = f64::min(0.5, w[2] + 0.1);
                    w[3] = f64::max(0.1, w[3] - 0.05);
                }
                if latency > 2000.0 {
                    w[0] = f64::min(0.6, w[0] + 0.1);
                    w[3] = f64::max(0.1, w[3] - 0.05);
                }
            }
        }
    }
    Ok(decided)
}

fn cases() -> u32 {
    if std::env::var_os("RELIABILITY_LONG").is_some() {
        10000
    } else {
        1000
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn legacy_strategy_equals_the_contract_strict(models in models(), steps in prop::collection::vec(step(), 1..40)) {
        run(models, steps, false)?;
    }

    #[test]
    fn legacy_strategy_equals_the_contract_legacy_tier_policy(models in models(), steps in prop::collection::vec(step(), 1..40)) {
        run(models, steps, true)?;
    }
}

#[test]
fn the_naive_complexity_agrees_with_the_contract_examples() {
    // 10 keyword words saturate the keyword part; every pattern counts once.
    let t = "analyze ".repeat(10);
    assert!((naive_complexity(&t, false) - (0.3 + 0.3 * (20.0f64 / 1000.0))).abs() < 1e-12);
    assert_eq!(naive_complexity("", false), 0.0);
    // "for" matches "format" (plain substring), domain needs capabilities
    assert!(
        (naive_complexity("format", false) - (0.3 / 15.0 + 0.3 * (2.0 / 1000.0))).abs() < 1e-12
    );
    assert!(naive_complexity("code", true) > naive_complexity("code", false));
}
