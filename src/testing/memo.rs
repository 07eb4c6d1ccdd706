//! Remembering Cedar's outcomes (the policies it found false, and its
//! answers) by what the policies read.
//!
//! An enumeration (`access`, `diff --impact`) or a large suite asks Cedar
//! about the same policies on many requests that differ only in entities
//! the policies do not tell apart: the documents of one folder and one
//! classification, the users of one level. Within
//! one action and one context, a policy's outcome depends only on what its
//! condition reads (module `reads`), so once Cedar has found a policy
//! false on one request, it is false on every request that reads the same
//! values. [`Memo::live`] leaves those policies out before Cedar's
//! authorizer decides ([`decide`]); a policy that was satisfied or raised an error is
//! never left out, so Cedar evaluates it again on each request and its
//! answer and its error message are Cedar's own.
//!
//! The same holds for a whole request: when every policy left in is one
//! whose reads are known, Cedar's answer on those policies (decision and
//! determining policies) is a function of their read values, so an answer
//! without errors is remembered under them ([`Memo::answer`]) and given
//! again to every later request that reads the same values — Cedar's own
//! answer, found once.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use cedar_policy::{Decision, Entities, EntityUid, PolicySet};

use super::outcome::PolicyError;
use super::reads::{Feature, FeatureValue, Reads, Subjects, condition_reads};
use crate::testing::slicer::{PolicyBits, Slicer};

/// The fast hasher the memo's lookups use (the keys are values from the
/// project's snapshot, not from an adversary that could choose collisions).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Cedar's outcomes so far, for one action and one context.
pub struct Memo {
    reads: Arc<Reads>,
    /// The policies some group covers: the others are always evaluated.
    covered: Option<PolicyBits>,
    known: RwLock<FastMap<(usize, Vec<FeatureValue>), Known>>,
    /// Cedar's answers without errors, by what their policies read.
    answers: RwLock<FastMap<AnswerKey, (Decision, Vec<String>)>>,
}

/// What a request's live policies read: the policies, and each group's
/// read values.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct AnswerKey {
    policies: Vec<u64>,
    reads: Vec<(usize, Vec<FeatureValue>)>,
}

/// The policies of a request that may be satisfied or err, and what they
/// read.
struct Live {
    /// The policies known to be satisfied or to err on the request, or
    /// whose reads are not known.
    policies: PolicyBits,
    /// The policies the memo does not know on the request yet.
    unknown: PolicyBits,
    pending: Vec<Pending>,
    /// Each group's read values, when every policy's reads are known.
    read: Option<Vec<(usize, Vec<FeatureValue>)>>,
}

/// What is known of one group's policies on one key.
struct Known {
    /// The policies Cedar has evaluated on the key.
    decided: PolicyBits,
    /// Of those, the ones that were satisfied or raised an error.
    not_false: PolicyBits,
}

/// Bound on the keys remembered, so memory stays flat on any snapshot.
const MEMO_LIMIT: usize = 1 << 18;

/// A group's policies that the memo does not know on a request's key.
struct Pending {
    group: usize,
    key: Vec<FeatureValue>,
    policies: PolicyBits,
}

impl Memo {
    pub fn new(reads: Arc<Reads>) -> Memo {
        let covered = reads.groups.iter().fold(None, |covered, group| {
            let mut covered: PolicyBits = covered.unwrap_or_else(|| group.members.none());
            covered.union_with(&group.members);
            Some(covered)
        });
        Memo {
            reads,
            covered,
            known: RwLock::new(FastMap::default()),
            answers: RwLock::new(FastMap::default()),
        }
    }

    /// Cedar's answer remembered for requests that read `key`.
    fn answer(&self, key: &AnswerKey) -> Option<(Decision, Vec<String>)> {
        self.answers.read().ok()?.get(key).cloned()
    }

    /// Remembers Cedar's answer, without errors, on a request that read
    /// `key`.
    fn remember_answer(&self, key: AnswerKey, decision: Decision, reasons: Vec<String>) {
        let Ok(mut answers) = self.answers.write() else {
            return;
        };
        if answers.len() >= MEMO_LIMIT {
            answers.clear();
        }
        answers.insert(key, (decision, reasons));
    }

    /// The policies of `bits` that may be satisfied or raise an error on
    /// the request of `principal` and `resource`, and those the memo does
    /// not know yet (to ask Cedar about, then give to [`Memo::learn`]).
    fn live(
        &self,
        bits: &PolicyBits,
        principal: &EntityUid,
        resource: &EntityUid,
        entities: &Entities,
    ) -> Live {
        let unread = |policies: PolicyBits| Live {
            unknown: policies.none(),
            policies,
            pending: Vec::new(),
            read: None,
        };
        let Some(covered) = &self.covered else {
            return unread(bits.clone());
        };
        let mut live = bits.without(covered);
        let all_read = live.is_empty();
        let mut unknown = bits.none();
        let mut pending = Vec::new();
        let mut read = Vec::new();
        // The few features the request's groups read, each read once.
        let mut values: Vec<(usize, FeatureValue)> = Vec::new();
        let subjects = Subjects::new(principal, resource, entities);
        let Ok(known) = self.known.read() else {
            return unread(bits.clone());
        };
        for group in self.reads.groups_of(bits) {
            let reads = &self.reads.groups[group];
            let policies = reads.members.and(bits);
            let key: Vec<FeatureValue> = reads
                .features
                .iter()
                .map(
                    |&feature| match values.iter().find(|(f, _)| *f == feature) {
                        Some((_, value)) => value.clone(),
                        None => {
                            let value = self.reads.features[feature].value(&subjects);
                            values.push((feature, value.clone()));
                            value
                        }
                    },
                )
                .collect();
            let lookup = (group, key);
            let undecided = match known.get(&lookup) {
                Some(known) => {
                    live.union_with(&policies.and(&known.not_false));
                    policies.without(&known.decided)
                }
                None => policies,
            };
            if !undecided.is_empty() {
                unknown.union_with(&undecided);
                pending.push(Pending {
                    group,
                    key: lookup.1.clone(),
                    policies: undecided,
                });
            }
            read.push(lookup);
        }
        Live {
            policies: live,
            unknown,
            pending,
            read: all_read.then_some(read),
        }
    }

    /// What the request reads, once no policy is unknown: with the live
    /// policies, it determines Cedar's answer.
    fn key(&self, live: &mut Live) -> Option<AnswerKey> {
        if !live.unknown.is_empty() {
            return None;
        }
        let read = live.read.take()?;
        Some(AnswerKey {
            policies: live.policies.words().to_vec(),
            reads: read
                .into_iter()
                .filter(|(group, _)| self.reads.groups[*group].members.meets(&live.policies))
                .collect(),
        })
    }

    /// Learns, from Cedar's answer on `live.unknown` (its decision, the
    /// determining policies and the erring ones), which of them are false
    /// on the request's key, and moves the others to `live.policies`.
    /// Cedar names every erring policy, and every satisfied one except
    /// when a `forbid` is satisfied: then only the forbids are named, and
    /// the permits it did not name are asked about alone (`ask`).
    fn learn(
        &self,
        slicer: &Slicer,
        live: &mut Live,
        (decision, reasons, errors): (Decision, &[String], &[PolicyError]),
        ask: impl FnOnce(&PolicyBits) -> Option<(Decision, Vec<String>, Vec<PolicyError>)>,
    ) {
        let named = |reasons: &[String], errors: &[PolicyError], among: &PolicyBits| {
            let named: std::collections::HashSet<&str> = reasons
                .iter()
                .map(String::as_str)
                .chain(errors.iter().map(|e| e.policy.as_str()))
                .collect();
            slicer.select_within(among, |p| named.contains(AsRef::<str>::as_ref(p.id())))
        };
        let unknown = std::mem::replace(&mut live.unknown, live.policies.none());
        let mut not_false = named(reasons, errors, &unknown);
        if decision == Decision::Deny && !reasons.is_empty() {
            let permits = slicer.permits_of(&unknown).without(&not_false);
            if !permits.is_empty() {
                match ask(&permits) {
                    // Without forbids, Cedar names every satisfied permit.
                    Some((_, reasons, errors)) => {
                        not_false.union_with(&named(&reasons, &errors, &permits));
                    }
                    None => not_false.union_with(&permits),
                }
            }
        }
        self.remember(std::mem::take(&mut live.pending), &unknown, &not_false);
        live.policies.union_with(&not_false);
    }

    fn remember(&self, pending: Vec<Pending>, settled: &PolicyBits, not_false: &PolicyBits) {
        let Ok(mut known) = self.known.write() else {
            return;
        };
        if known.len() >= MEMO_LIMIT {
            known.clear();
        }
        for pending in pending {
            let decided = pending.policies.and(settled);
            let entry = known
                .entry((pending.group, pending.key))
                .or_insert_with(|| Known {
                    decided: decided.none(),
                    not_false: decided.none(),
                });
            entry.not_false.union_with(&decided.and(not_false));
            entry.decided.union_with(&decided);
        }
    }
}

/// Cedar's answer on one request.
pub struct Decided {
    pub decision: Decision,
    /// The determining policies.
    pub reasons: Vec<String>,
    pub errors: Vec<PolicyError>,
    /// Given again from an earlier request that read the same values.
    pub remembered: bool,
    /// The policies Cedar was asked about: all but those `memo` knew false.
    pub live: PolicyBits,
}

impl Decided {
    /// Cedar's own `(decision, reasons, errors)` on the policies `live`.
    pub fn by_cedar(
        (decision, reasons, errors): (Decision, Vec<String>, Vec<PolicyError>),
        live: PolicyBits,
    ) -> Decided {
        Decided {
            decision,
            reasons,
            errors,
            remembered: false,
            live,
        }
    }
}

/// Cedar's decision on the request of `principal` and `resource` whose
/// slice is `bits`, with the determining policies and the errors: the
/// policies `memo` knows to be false are left out, Cedar (`cedar`) decides
/// on the set `set_of` makes of the others, and the memo learns from its
/// answer; or Cedar's answer on an earlier request that read the same
/// values is given again.
pub fn decide(
    memo: &Memo,
    slicer: &Slicer,
    bits: &PolicyBits,
    (principal, resource, entities): (&EntityUid, &EntityUid, &Entities),
    set_of: impl Fn(&PolicyBits) -> Option<Arc<PolicySet>>,
    cedar: impl Fn(&PolicySet) -> (Decision, Vec<String>, Vec<PolicyError>),
) -> Decided {
    let mut live = memo.live(bits, principal, resource, entities);
    // Cedar's answer on the policies the memo did not know, when they hold
    // every live one: it is then the answer on the live ones.
    let mut answered = None;
    if !live.unknown.is_empty() {
        let alone = live.policies.is_empty();
        let answer = match set_of(&live.unknown) {
            Some(set) => cedar(&set),
            None => (Decision::Deny, Vec::new(), Vec::new()),
        };
        let (decision, reasons, errors) = &answer;
        memo.learn(slicer, &mut live, (*decision, reasons, errors), |permits| {
            set_of(permits).map(|set| cedar(&set))
        });
        answered = alone.then_some(answer);
    }
    let key = memo.key(&mut live);
    if let Some((decision, reasons)) = key.as_ref().and_then(|key| memo.answer(key)) {
        return Decided {
            remembered: true,
            ..Decided::by_cedar((decision, reasons, Vec::new()), live.policies)
        };
    }
    let answer = answered.unwrap_or_else(|| match set_of(&live.policies) {
        Some(set) => cedar(&set),
        // Nothing can be satisfied or err: Cedar denies.
        None => (Decision::Deny, Vec::new(), Vec::new()),
    });
    if let Some(key) = key.filter(|_| answer.2.is_empty()) {
        memo.remember_answer(key, answer.0, answer.1.clone());
    }
    Decided::by_cedar(answer, live.policies)
}

/// A [`Memo`] of a slicer's policies as they are (not folded), for one
/// action's requests, built on first use: queries that fold every request
/// never need it.
pub struct LazyMemo<'a> {
    reads: &'a PolicyReads,
    slicer: &'a Slicer,
    /// The action's policies: every request's slice is among them.
    policies: PolicyBits,
    memo: OnceLock<Memo>,
}

/// What each policy of a slicer reads, found on first use (Cedar's JSON
/// form of a policy costs a parse of its text) and shared by the memos of
/// every action.
pub struct PolicyReads {
    policies: Vec<OnceLock<Vec<Feature>>>,
}

impl PolicyReads {
    pub fn new(slicer: &Slicer) -> PolicyReads {
        PolicyReads {
            policies: (0..slicer.len()).map(|_| OnceLock::new()).collect(),
        }
    }

    /// A new memo for the requests of one action, whose policies (of
    /// `slicer`, the one these reads were made for) are `policies`.
    pub fn memo(&self, slicer: &Slicer, policies: &PolicyBits) -> Memo {
        let reads = Reads::new(slicer, policies, |index, policy| {
            Some(self.of(index, policy))
        });
        Memo::new(Arc::new(reads))
    }

    /// [`PolicyReads::memo`], built on first use.
    pub fn lazy<'a>(&'a self, slicer: &'a Slicer, policies: &PolicyBits) -> LazyMemo<'a> {
        LazyMemo {
            reads: self,
            slicer,
            policies: policies.clone(),
            memo: OnceLock::new(),
        }
    }

    fn of(&self, index: u32, policy: &cedar_policy::Policy) -> Vec<Feature> {
        self.policies[index as usize]
            .get_or_init(|| condition_reads(policy))
            .clone()
    }
}

impl LazyMemo<'_> {
    pub fn get(&self) -> &Memo {
        self.memo
            .get_or_init(|| self.reads.memo(self.slicer, &self.policies))
    }
}
