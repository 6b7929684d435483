//! The detector's one door for alerts.
//!
//! A [`Detector`](crate::Detector) owns one [`AlertPort`] and hands it every alert it raises (held
//! alerts included, when they are released). Whatever happens to alerts after detection — folding
//! storms, response actions, routing to outputs and sinks, the store — is a stage behind that port:
//! [`Stages`] runs [`AlertStage`]s in order and ends in a last port (usually the outputs). Adding a
//! consumer is adding a stage, not threading another callback through the detector.
//!
//! Ports and stages run on the detector's thread, between events: they must be quick (hand work
//! to a queue, as the sinks' router does) and never block on I/O.

use harrier_engine::Alert;

/// Where a detector's alerts go.
pub trait AlertPort {
    /// One alert, in the order the detector raised it.
    fn put(&mut self, alert: Alert);

    /// An idle moment of the source (no event for a while): stages holding alerts for a time
    /// window release what is due.
    fn idle(&mut self) {}

    /// The end of a run: everything still held goes out.
    fn flush(&mut self) {}
}

/// A closure as a port (tests, simple tools): `Detector::new(rules, host, from_fn(|a| …))`.
pub struct FnPort<F: FnMut(Alert)>(pub F);

pub fn from_fn<F: FnMut(Alert)>(f: F) -> FnPort<F> {
    FnPort(f)
}

impl<F: FnMut(Alert)> AlertPort for FnPort<F> {
    fn put(&mut self, alert: Alert) {
        (self.0)(alert)
    }
}

/// A port that keeps nothing (rules evaluated for their counters only).
#[derive(Debug, Default, Clone, Copy)]
pub struct Discard;

impl AlertPort for Discard {
    fn put(&mut self, _alert: Alert) {}
}

/// A port that collects alerts in memory (tests, benchmarks).
#[derive(Debug, Default)]
pub struct Collect(pub Vec<Alert>);

impl AlertPort for Collect {
    fn put(&mut self, alert: Alert) {
        self.0.push(alert)
    }
}

/// One step between the detector and the outputs. A stage sees each alert and passes on zero
/// (folded, held), one (the alert) or more (the alert and, say, a response outcome) alerts to
/// `next`.
pub trait AlertStage {
    /// A short name for logs and metrics.
    fn name(&self) -> &str;

    fn on_alert(&mut self, alert: Alert, next: &mut dyn FnMut(Alert));

    /// Time passes (see [`AlertPort::idle`]).
    fn idle(&mut self, _next: &mut dyn FnMut(Alert)) {}

    /// End of the run: pass on everything held.
    fn flush(&mut self, _next: &mut dyn FnMut(Alert)) {}
}

/// Stages in order, ending in a last port.
pub struct Stages<P: AlertPort> {
    stages: Vec<Box<dyn AlertStage>>,
    last: P,
}

impl<P: AlertPort> Stages<P> {
    /// No stage yet: alerts go straight to `last`.
    pub fn new(last: P) -> Self {
        Stages { stages: Vec::new(), last }
    }

    /// Add a stage after the ones already there (before the last port).
    pub fn then(mut self, stage: Box<dyn AlertStage>) -> Self {
        self.stages.push(stage);
        self
    }

    /// Add a stage after the ones already there.
    pub fn push(&mut self, stage: Box<dyn AlertStage>) {
        self.stages.push(stage);
    }

    /// The stages' names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.stages.iter().map(|s| s.name()).collect()
    }

    pub fn last(&self) -> &P {
        &self.last
    }

    pub fn last_mut(&mut self) -> &mut P {
        &mut self.last
    }

    pub fn into_last(self) -> P {
        self.last
    }
}

/// Pass `alert` through `stages` (in order), then to `last`.
fn pass<P: AlertPort>(stages: &mut [Box<dyn AlertStage>], last: &mut P, alert: Alert) {
    match stages.split_first_mut() {
        None => last.put(alert),
        Some((first, rest)) => first.on_alert(alert, &mut |a| pass(rest, last, a)),
    }
}

/// Let every stage from the first release what it holds (`flush`: all of it); what a stage
/// releases goes through the stages after it.
fn release<P: AlertPort>(stages: &mut [Box<dyn AlertStage>], last: &mut P, flush: bool) {
    for i in 0..stages.len() {
        let (head, rest) = stages.split_at_mut(i + 1);
        let stage = &mut head[i];
        let mut next = |a| pass(rest, last, a);
        if flush {
            stage.flush(&mut next);
        } else {
            stage.idle(&mut next);
        }
    }
}

impl<P: AlertPort> AlertPort for Stages<P> {
    fn put(&mut self, alert: Alert) {
        pass(&mut self.stages, &mut self.last, alert);
    }

    fn idle(&mut self) {
        release(&mut self.stages, &mut self.last, false);
        self.last.idle();
    }

    fn flush(&mut self) {
        release(&mut self.stages, &mut self.last, true);
        self.last.flush();
    }
}

impl<P: AlertPort + ?Sized> AlertPort for Box<P> {
    fn put(&mut self, alert: Alert) {
        (**self).put(alert)
    }
    fn idle(&mut self) {
        (**self).idle()
    }
    fn flush(&mut self) {
        (**self).flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(rule: &str) -> Alert {
        Alert {
            time_ns: 0,
            rule: rule.to_string(),
            priority: harrier_rules::Priority::Warning,
            source: "syscall".into(),
            tags: Vec::new(),
            output: String::new(),
            output_fields: Default::default(),
            hostname: String::new(),
        }
    }

    /// Drops alerts of one rule, counts them, and says how many at idle.
    struct Fold {
        rule: &'static str,
        folded: u64,
    }

    impl AlertStage for Fold {
        fn name(&self) -> &str {
            "fold"
        }
        fn on_alert(&mut self, a: Alert, next: &mut dyn FnMut(Alert)) {
            if a.rule == self.rule {
                self.folded += 1;
            } else {
                next(a)
            }
        }
        fn idle(&mut self, next: &mut dyn FnMut(Alert)) {
            if self.folded > 0 {
                next(alert(&format!("{} x{}", self.rule, self.folded)));
                self.folded = 0;
            }
        }
    }

    /// Passes every alert on and adds an outcome after it.
    struct Respond;

    impl AlertStage for Respond {
        fn name(&self) -> &str {
            "respond"
        }
        fn on_alert(&mut self, a: Alert, next: &mut dyn FnMut(Alert)) {
            let outcome = alert(&format!("outcome of {}", a.rule));
            next(a);
            next(outcome);
        }
    }

    fn rules(c: &Stages<Collect>) -> Vec<&str> {
        c.last().0.iter().map(|a| a.rule.as_str()).collect()
    }

    #[test]
    fn stages_run_in_order_and_idle_releases_through_later_stages() {
        let mut s = Stages::new(Collect::default())
            .then(Box::new(Fold { rule: "noisy", folded: 0 }))
            .then(Box::new(Respond));
        assert_eq!(s.names(), ["fold", "respond"]);
        s.put(alert("noisy"));
        s.put(alert("a"));
        s.put(alert("noisy"));
        assert_eq!(rules(&s), ["a", "outcome of a"]);
        s.idle();
        // The summary the fold stage released went through the response stage.
        assert_eq!(rules(&s), ["a", "outcome of a", "noisy x2", "outcome of noisy x2"]);
        s.idle();
        assert_eq!(s.last().0.len(), 4, "nothing more was held");
    }

    #[test]
    fn a_closure_and_a_box_are_ports() {
        let mut seen = Vec::new();
        {
            let mut p: Box<dyn AlertPort + '_> = Box::new(from_fn(|a: Alert| seen.push(a.rule)));
            p.put(alert("x"));
            p.flush();
        }
        assert_eq!(seen, ["x"]);
        let mut s = Stages::new(Discard).then(Box::new(Respond));
        s.put(alert("y"));
        s.flush();
    }
}
