//! The checker: what must hold at the end of a history, per policy.
//!
//! Terms (all per item):
//!
//! - A **change** is a local change a device reported as recorded (`record_change` /
//!   `record_bulk` returned `Ok`); its **value** is the position and watched flag it reported.
//! - A change `c'` **knows** `c` when `c'` was made on the same device after `c`, or when the
//!   device showed `c`'s value just before making `c'` (it had pulled it, or merged it), `c`
//!   was made before the device's last contact with the server (a sync, pull or live message)
//!   and `c`'s device ran its sends (a sync) between making `c` and that contact, and that
//!   value was not simply its own last change on the item — and then also everything `c`
//!   knew. Two changes that do not know each other are **concurrent**.
//! - `c` is **superseded** when another change `c'` knows `c` (the person replaced it,
//!   knowingly), or when `c'` is concurrent with `c` and the policy's rules let `c'` win:
//!   - *prefer-local* and *prefer-server*: any concurrent change may win (whichever device
//!     sends last, resp. first);
//!   - *furthest-progress*: `c'` may win when it is an explicit reset (an unwatch, or a restart
//!     to 0, relative to what its device showed or to its base; a Jellyfin play started over a
//!     watched item, dated, is no unwatch: `merge::is_play_over_watched`), or when `c` is not a reset
//!     (relative to both) and `c'` is at least as far along (watched beats any position, then
//!     the larger position; a tie may go either way);
//!   - *last-writer-wins*: `c'` may win when `c` carries no date (an unwatch) or `c'` was made
//!     no earlier than `c` on the devices' clocks (1 s of slack: Plex keeps whole seconds),
//!     `c'` an unwatch included: the unwatching device compares the time it made the change
//!     with the date the server holds (seeds 1360 and 3194: an unwatch made ten minutes after
//!     another device's seek, by the devices' clocks, replaced it).
//!     On Plex, watched dates are stamped by the server when the write arrives, so there any
//!     concurrent change may win;
//!   - mixed policies: any concurrent change may win.
//!
//! Invariants:
//!
//! 1. **Durability**: every change's value is the server's value at the end, or the change is
//!    superseded. A change to watched is kept when the item ends watched, whatever position
//!    the server keeps under the flag (it is not shown as progress). A change to the value its
//!    device already showed, or back to its base (the server's value as the device last saw
//!    it: coalescing sends nothing for it, by design), owes nothing. So does a change that put
//!    the server back exactly at another device's base when that device's concurrent change
//!    is the final value (ABA: with no versions on either server, a state-based merge cannot
//!    tell "went there and back" from "never moved"); a watched change is the final value when
//!    the item ends watched, as above.
//! 2. **No invented state**: the server's value at the end is the value of some change on the
//!    item (or the item's initial value when it has none).
//! 3. **Convergence**: after healing (faults off, partitions healed, time past every backoff)
//!    and two rounds of pull + sync on every device and a final pull, every device shows the
//!    server's value for every item, and every queue is empty.
//! 4. **No resurrection** (furthest-progress; last-writer-wins on Jellyfin with the clocks in
//!    order): an explicit reset (relative to what its device showed and to its base) that is
//!    not the final value lost to a change it did not know — never to a stale state it
//!    replaced.
//! 5. **Play counts**: the server's and every device's play count of an item never exceed the
//!    number of changes in the history that marked it watched.
//! 6. **No going back after a pull** (judged at each step, `World::check_pulled`): right after
//!    a device pulled — nothing but its own sends touched the server meanwhile, even when the
//!    listing's answers came after those sends (`Op::PullDuringSync`) — every item it has no
//!    queued change for shows the server's value (the position only when not watched).

use std::collections::BTreeSet;

use playmark::model::ServerKind;
use playmark::sync::Policy;

use super::history::{Policies, Recorded, Value};
use super::world::World;

/// Everything the checker looks at, taken from the world after convergence.
pub struct Ending {
    /// Per item: the server's value and play count.
    pub server: Vec<(Value, i64)>,
    /// Per device, per item: value and play count.
    pub devices: Vec<Vec<(Value, i64)>>,
    /// Per device: changes still queued.
    pub queued: Vec<usize>,
    /// Per device, per item: the person's value a merge kept the server's over after a write
    /// of theirs with an unknown outcome (`Store::overridden`, listed for "Use mine").
    pub kept_for_use_mine: Vec<Vec<Option<Value>>>,
}

impl Ending {
    pub fn of(w: &World) -> Ending {
        let server = w
            .items
            .iter()
            .map(|i| {
                let u = w.server.user_data(&i.id).unwrap_or_default();
                (Value::of(&u), u.play_count)
            })
            .collect();
        let devices = w
            .devices
            .iter()
            .map(|d| {
                w.items
                    .iter()
                    .map(|i| (d.local(&i.id), d.play_count(&i.id)))
                    .collect()
            })
            .collect();
        let queued = w
            .devices
            .iter()
            .map(|d| d.engine.counts().map(|c| c.total()).unwrap_or(usize::MAX))
            .collect();
        let kept_for_use_mine = w
            .devices
            .iter()
            .map(|d| {
                let now = playmark::clock::Clock::now(&d.clock);
                let kept = d
                    .engine
                    .with_store(|s| s.overridden(d.account, now))
                    .unwrap_or_default();
                w.items
                    .iter()
                    .map(|i| {
                        kept.iter()
                            .find(|o| o.item_id == i.id && o.after_unknown_outcome)
                            .map(|o| Value {
                                position_ms: o.yours.position_ms,
                                played: o.yours.played,
                            })
                    })
                    .collect()
            })
            .collect();
        Ending {
            server,
            devices,
            queued,
            kept_for_use_mine,
        }
    }
}

/// `knows[c]`: the changes change `c` knows (see the module doc). What a device showed is put
/// down to its own last change on the item when the values agree (a watched flag from another
/// device is not "known" just because this device had marked it watched too); otherwise to the
/// changes of other devices with that value, which it can only have had from the server.
fn knowledge(changes: &[Recorded], sends: &[Vec<usize>]) -> Vec<BTreeSet<usize>> {
    let mut knows: Vec<BTreeSet<usize>> = Vec::with_capacity(changes.len());
    for c in changes {
        let mut k = BTreeSet::new();
        let earlier = || {
            changes
                .iter()
                .take_while(move |e| e.id < c.id)
                .filter(move |e| e.item == c.item)
        };
        let own = earlier().filter(|e| e.device == c.device).last();
        if let Some(o) = own {
            k.insert(o.id);
            k.extend(knows[o.id].iter().copied());
        }
        if own.is_none_or(|o| o.value != c.before) {
            // Only a change made before the device's last contact with the server can have
            // reached it (seed 184: a device that never synced "showed" the initial 0s, which
            // is not knowing another device's reset to 0s).
            // And only one its device had sent by then (seed 6465: a season marked watched on
            // d1 and not yet sent is not what d0 saw when it pulled another device's
            // "watched").
            let sent = |e: &Recorded, at: usize| {
                sends
                    .get(e.device)
                    .is_some_and(|steps| steps.iter().any(|&s| e.step < s && s < at))
            };
            let reached = |e: &Recorded| c.contact.is_some_and(|at| e.step < at && sent(e, at));
            for e in earlier().filter(|e| e.device != c.device && e.value == c.before && reached(e))
            {
                k.insert(e.id);
                k.extend(knows[e.id].iter().copied());
            }
        }
        knows.push(k);
    }
    knows
}

/// `c` went back as the winner of a conflict may have been seen: another device's merge takes a
/// play over a watched item for a reset (see `Recorded::is_play_over_watched`).
fn reset_any(c: &Recorded) -> bool {
    c.is_reset(&c.before) || c.is_reset(&c.base)
}

/// `c` went back as its own device's merge sees it: a play over a watched item is progress
/// there, not a reset.
fn reset_both(c: &Recorded, kind: ServerKind) -> bool {
    let own = |from| c.is_reset(from) && !c.is_play_over_watched(from, kind);
    own(&c.before) && own(&c.base)
}

/// May the concurrent change `winner` win over `c` under the history's rules?
fn may_win(policies: &Policies, kind: ServerKind, winner: &Recorded, c: &Recorded) -> bool {
    let policy = match policies {
        Policies::Mixed(_) => return true,
        Policies::One(p) => *p,
    };
    match policy {
        Policy::PreferLocal | Policy::PreferServer => true,
        Policy::LastWriterWins => kind == ServerKind::Plex || !c.dated || winner.at + 1_000 >= c.at,
        Policy::FurthestProgress => {
            reset_any(winner)
                || (!reset_both(c, kind) && winner.value.progress() >= c.value.progress())
        }
    }
}

/// Check a finished history. Each violation is one line naming the changes involved.
pub fn check(w: &World, end: &Ending) -> Vec<String> {
    let changes = &w.recorded;
    let knows = knowledge(changes, &w.sends);
    let concurrent =
        |a: &Recorded, b: &Recorded| !knows[a.id].contains(&b.id) && !knows[b.id].contains(&a.id);
    let describe = |c: &Recorded| {
        format!(
            "change #{} (d{} item {} -> {} at step {})",
            c.id, c.device, c.item, c.value, c.step
        )
    };
    let mut out = w.step_violations.clone();
    for (item, (fin, count)) in end.server.iter().enumerate() {
        let on_item: Vec<&Recorded> = changes.iter().filter(|c| c.item == item).collect();
        // 1. Durability.
        for c in &on_item {
            // "Watched" is durable when the item ends watched: the position kept under a
            // watched flag is not progress anyone sees (furthest-progress ranks watched above
            // every position, and the app shows "Watched"). Found by seed 30: a mark-watched
            // the server already held was settled without a write, then another device's
            // seek inside the watched item (its clock 8 min behind) moved that hidden position.
            if c.value == *fin || (c.value.played && fin.played) {
                continue;
            }
            // A change back to the device's base (the server's value as it last saw it) nets
            // out: by design a return to base sends nothing (README: "toggles coalesce and a
            // return to base sends nothing"), so a concurrent change from another device
            // stands (seed 86: seek to 33:28 then restart to 0, unsent, while another device
            // set 23:54). Likewise a change to what the device already showed.
            if c.value == c.before || c.value == c.base {
                continue;
            }
            // Invariant 11, the decision table's last row (README "When the answer never
            // comes"): a write of this change had an unknown outcome and a later read found a
            // third value; the client takes its write to have landed and been changed after (it
            // cannot tell that from "never landed" without versions), keeps the server's value
            // and lists the person's for "Use mine". Not silent, so not lost.
            if end.kept_for_use_mine[c.device][item] == Some(c.value) {
                continue;
            }
            // ABA: a change that puts the server back exactly where another device last saw
            // it (that device's base) cannot be told from "nothing moved" by that device's
            // merge — neither server keeps versions — so that device's concurrent change,
            // when it is the final value, stands (seeds 176 and 953: watched then unwatched,
            // or seek then unwatch, back to the other device's 0s).
            // "The final value" as shown: a watched one stands when the item ends watched,
            // whatever position a later seek hid under the flag (seed 5363: d0 restarts an
            // item at 9:00, d2 marks it watched from its base 0:00 without knowing, and d3
            // then seeks inside the watched item).
            let aba = on_item.iter().any(|o| {
                o.id != c.id
                    && (o.value == *fin || (o.value.played && fin.played))
                    && o.base == c.value
                    && concurrent(c, o)
            });
            if aba {
                continue;
            }
            // ABA, then the device that could not see it went on (seed 320, Jellyfin,
            // furthest-progress): d1's season unwatch put item 2 back at d0's base (0s, no
            // date: Jellyfin clears it); d0's concurrent seek to 320s, sent after it, found
            // "nothing moved" and was written — the ABA above — and d0's later "watched",
            // made over its own 320s, is the final value. A device's later changes stand on
            // its ABA write like on any change of its own. Only when that device sent after
            // `c`'s device had sent `c` (it wrote over `c`, not `c` over it).
            let first_send = |d: usize, step: usize| {
                w.sends
                    .get(d)
                    .and_then(|s| s.iter().copied().find(|&at| at > step))
            };
            // `o`'s device ran its sends after `c`'s device first did after making `c` (a
            // send step may fail before it writes: seed 770, where d1's first sync after its
            // change met a 500 and its write came at a later sync).
            let sent_after = |o: &Recorded| match first_send(c.device, c.step) {
                Some(ours) => w
                    .sends
                    .get(o.device)
                    .is_some_and(|s| s.iter().any(|&at| at > ours && at > o.step)),
                None => false,
            };
            let shows_final = |x: &Recorded| x.value == *fin || (x.value.played && fin.played);
            let aba_then_on = on_item.iter().any(|o| {
                o.id != c.id
                    && o.device != c.device
                    && o.base == c.value
                    && concurrent(c, o)
                    && sent_after(o)
                    && on_item
                        .iter()
                        .any(|f| f.device == o.device && f.id > o.id && shows_final(f))
            });
            if aba_then_on {
                continue;
            }
            // ABA, then a third device's change beat the ABA write (seed 1060, Jellyfin,
            // furthest-progress): d1 restarted item 1 at 0s (from 1113s) and sent it; d2,
            // whose base was 0s (it never saw 1113s), found the server at its base — "nothing
            // moved", the ABA above — and wrote its seek to 7s over d1's restart; d3, which had
            // pulled 1113s and marked the season watched, then met 7s: a move back to 7s is no
            // reset, and watched is further along, so watched is the final value. From `o`'s
            // write on, the server holds `o`'s value and no device can see that `c` was ever
            // there (neither server keeps versions; a restart and an unwatch leave no date on
            // Jellyfin): every later merge judges `o`, not `c`. So `c` gives way to a final
            // change `f` that was concurrent with `c`, was sent after `o` was, and the policy
            // lets beat `o` (or that knew `o`).
            // The first send of device `d` after log position `after`: a step's, else one of
            // the two heal rounds (every device syncs in order, round 0 then round 1).
            let heal = usize::MAX / 2;
            let n_dev = w.devices.len();
            let next_send = |d: usize, after: usize| -> Option<usize> {
                w.sends
                    .get(d)
                    .and_then(|s| s.iter().copied().find(|&at| at > after))
                    .or_else(|| {
                        [heal + d, heal + n_dev + d]
                            .into_iter()
                            .find(|&at| at > after)
                    })
            };
            let aba_then_beaten = on_item.iter().any(|o| {
                o.id != c.id
                    && o.device != c.device
                    && o.base == c.value
                    && concurrent(c, o)
                    && next_send(c.device, c.step)
                        .and_then(|ours| next_send(o.device, ours.max(o.step)))
                        .is_some_and(|theirs| {
                            on_item.iter().any(|f| {
                                f.id != c.id
                                    && f.id != o.id
                                    && f.device != c.device
                                    && shows_final(f)
                                    && concurrent(c, f)
                                    && next_send(f.device, theirs.max(f.step)).is_some()
                                    && (knows[f.id].contains(&o.id)
                                        || may_win(&w.params.policies, w.params.kind, f, o))
                            })
                        })
            });
            if aba_then_beaten {
                continue;
            }
            // ABA after an unknown outcome (seed 279, Plex): d1's "watched" was applied and
            // its answer lost; d0 pulled it and unwatched, back to d1's base; d1's retry read
            // its base — "did not land", the decision table's second row — and sent "watched"
            // again. The server then holds exactly what it would hold had d1's write never
            // landed (an unwatch clears the date on both servers, and neither keeps
            // versions), and in that world resending is the only way d1's change survives:
            // no client can tell the two apart, so one of the two changes must give. Only
            // for a device whose write of the item the server applied while the answer was
            // lost (`World::answer_lost`).
            let aba_after_unknown = on_item.iter().any(|o| {
                o.id != c.id
                    && o.device != c.device
                    && o.base == c.value
                    && shows_final(o)
                    && w.answer_lost
                        .get(o.device)
                        .is_some_and(|s| s.contains(&item))
            });
            if aba_after_unknown {
                continue;
            }
            let superseded = on_item.iter().any(|o| {
                o.id != c.id
                    && (knows[o.id].contains(&c.id)
                        || (concurrent(c, o) && may_win(&w.params.policies, w.params.kind, o, c)))
            });
            if !superseded {
                out.push(format!(
                    "lost update: {} is not on the server (it holds {fin}) and no change superseded it",
                    describe(c)
                ));
            }
        }
        // 2. No invented state.
        let initial = Value {
            position_ms: 0,
            played: false,
        };
        let explained =
            on_item.iter().any(|c| c.value == *fin) || (on_item.is_empty() && *fin == initial);
        if !explained {
            out.push(format!(
                "invented state: item {item} ends at {fin} on the server, which no change set"
            ));
        }
        // 4. No resurrection.
        let promised = match &w.params.policies {
            Policies::One(Policy::FurthestProgress) => true,
            Policies::One(Policy::LastWriterWins) => {
                w.params.clocks_in_order() && w.params.kind != ServerKind::Plex
            }
            _ => false,
        };
        if promised {
            for r in on_item
                .iter()
                .filter(|r| reset_both(r, w.params.kind) && r.value != *fin)
            {
                let winners: Vec<&&Recorded> = on_item.iter().filter(|c| c.value == *fin).collect();
                // The ABA after an unknown outcome (durability, above): the winner's write was
                // applied with its answer lost, `r` put the server back at the winner's base,
                // and the winner's retry cannot tell that from "never landed" (seed 3106).
                let aba_after_unknown = winners.iter().any(|c| {
                    c.base == r.value
                        && w.answer_lost
                            .get(c.device)
                            .is_some_and(|s| s.contains(&item))
                });
                if !winners.is_empty()
                    && !aba_after_unknown
                    && winners.iter().all(|c| knows[r.id].contains(&c.id))
                {
                    out.push(format!(
                        "resurrection: {} was undone by the stale state {fin} of {}",
                        describe(r),
                        describe(winners[0])
                    ));
                }
            }
        }
        // 5. Play counts.
        let plays = on_item.iter().filter(|c| c.watched).count() as i64;
        if *count > plays {
            out.push(format!(
                "play count inflated: item {item} has play count {count} on the server, but the history has {plays} completed play(s)"
            ));
        }
        for (d, dev) in end.devices.iter().enumerate() {
            let (local, local_count) = dev[item];
            if local_count > plays {
                out.push(format!(
                    "play count inflated: item {item} has play count {local_count} on d{d}, but the history has {plays} completed play(s)"
                ));
            }
            // 3. Convergence (values).
            if local != *fin {
                out.push(format!(
                    "no convergence: item {item} is {local} on d{d} but {fin} on the server"
                ));
            }
        }
    }
    // 3. Convergence (queues).
    for (d, n) in end.queued.iter().enumerate() {
        if *n != 0 {
            out.push(format!(
                "no convergence: d{d} still has {n} change(s) queued"
            ));
        }
    }
    out
}
