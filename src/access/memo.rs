//! Remembering Cedar's outcomes (the policies it found false, and its
//! answers) by what the policies read.
//!
//! An enumeration asks Cedar about the same policies on many requests that
//! differ only in entities the policies do not tell apart: the documents
//! of one folder and one classification, the users of one level. Within
//! one action and one context, a policy's outcome depends only on what its
//! condition reads (module `reads`), so once Cedar has found a policy
//! false on one request, it is false on every request that reads the same
//! values. [`Memo::live`] leaves those policies out before Cedar's
//! authorizer decides; a policy that was satisfied or raised an error is
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

use cedar_policy::{Decision, Entities, EntityUid};

use super::reads::{Feature, FeatureValue, Reads, condition_reads};
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
pub struct AnswerKey {
    policies: Vec<u64>,
    reads: Vec<(usize, Vec<FeatureValue>)>,
}

/// The policies of a request that may be satisfied or err, and what they
/// read when that is known for each of them.
pub struct Live {
    pub policies: PolicyBits,
    pub key: Option<AnswerKey>,
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
    pub fn answer(&self, key: &AnswerKey) -> Option<(Decision, Vec<String>)> {
        self.answers.read().ok()?.get(key).cloned()
    }

    /// Remembers Cedar's answer, without errors, on a request that read
    /// `key`.
    pub fn remember_answer(&self, key: AnswerKey, decision: Decision, reasons: Vec<String>) {
        let Ok(mut answers) = self.answers.write() else {
            return;
        };
        if answers.len() >= MEMO_LIMIT {
            answers.clear();
        }
        answers.insert(key, (decision, reasons));
    }

    /// The policies of `bits` that may be satisfied or raise an error on
    /// the request of `principal` and `resource`: all but those known to
    /// be false. `evaluate` is asked about the policies the memo does not
    /// know yet, and answers which of them are satisfied or err.
    pub fn live(
        &self,
        bits: &PolicyBits,
        principal: &EntityUid,
        resource: &EntityUid,
        entities: &Entities,
        evaluate: impl FnOnce(&PolicyBits) -> PolicyBits,
    ) -> Live {
        let unread = |policies: PolicyBits| Live {
            policies,
            key: None,
        };
        let Some(covered) = &self.covered else {
            return unread(bits.clone());
        };
        let mut live = bits.without(covered);
        let mut unknown = bits.none();
        let mut pending = Vec::new();
        let mut read = Vec::new();
        let mut values: Vec<Option<FeatureValue>> = vec![None; self.reads.features.len()];
        {
            let Ok(known) = self.known.read() else {
                return unread(bits.clone());
            };
            for (group, reads) in self.reads.groups.iter().enumerate() {
                if !reads.members.meets(bits) {
                    continue;
                }
                let policies = reads.members.and(bits);
                let key: Vec<FeatureValue> = reads
                    .features
                    .iter()
                    .map(|&feature| {
                        values[feature]
                            .get_or_insert_with(|| {
                                self.reads.features[feature].value(principal, resource, entities)
                            })
                            .clone()
                    })
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
        }
        if !unknown.is_empty() {
            let not_false = evaluate(&unknown);
            live.union_with(&unknown.and(&not_false));
            self.remember(pending, &not_false);
        }
        // Only when every live policy's reads are known does the key
        // determine Cedar's answer.
        let key = (!live.meets(&bits.without(covered))).then(|| AnswerKey {
            policies: live.words().to_vec(),
            reads: read
                .into_iter()
                .filter(|(group, _)| self.reads.groups[*group].members.meets(&live))
                .collect(),
        });
        Live {
            policies: live,
            key,
        }
    }

    fn remember(&self, pending: Vec<Pending>, not_false: &PolicyBits) {
        let Ok(mut known) = self.known.write() else {
            return;
        };
        if known.len() >= MEMO_LIMIT {
            known.clear();
        }
        for Pending {
            group,
            key,
            policies,
        } in pending
        {
            let entry = known.entry((group, key)).or_insert_with(|| Known {
                decided: policies.none(),
                not_false: policies.none(),
            });
            entry.not_false.union_with(&policies.and(not_false));
            entry.decided.union_with(&policies);
        }
    }
}

/// A [`Memo`] of a slicer's policies as they are (not folded), for one
/// action's requests, built on first use: queries that fold every request
/// never need it.
pub struct LazyMemo<'a> {
    reads: &'a SlicerReads<'a>,
    /// The action's policies: every request's slice is among them.
    policies: PolicyBits,
    memo: OnceLock<Memo>,
}

/// What each policy of a slicer reads, found on first use (Cedar's JSON
/// form of a policy costs a parse of its text) and shared by the
/// [`LazyMemo`]s of every action.
pub struct SlicerReads<'s> {
    slicer: &'s Slicer,
    policies: Vec<OnceLock<Vec<Feature>>>,
}

impl<'s> SlicerReads<'s> {
    pub fn new(slicer: &'s Slicer) -> SlicerReads<'s> {
        SlicerReads {
            slicer,
            policies: (0..slicer.len()).map(|_| OnceLock::new()).collect(),
        }
    }

    /// A new memo for the requests of one action, whose policies are
    /// `policies`.
    pub fn memo(&self, policies: &PolicyBits) -> LazyMemo<'_> {
        LazyMemo {
            reads: self,
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
        self.memo.get_or_init(|| {
            let reads = Reads::new(self.reads.slicer, &self.policies, |index, policy| {
                Some(self.reads.of(index, policy))
            });
            Memo::new(Arc::new(reads))
        })
    }
}
