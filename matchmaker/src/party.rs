//! Parties: players who queue together. Each member holds its own ticket naming the party; the
//! queue turns complete parties into one unit for the match function, so they are matched,
//! claimed and placed on a team together.

use std::collections::HashMap;

use protocol::{MAX_PLAYER_ID_BYTES, api::Party};

use crate::{error::MatchmakerError, rules::ModeRules, ticket::Ticket};

/// Checks a party named in a new ticket against its mode.
pub(crate) fn validate(party: &Party, rules: &ModeRules) -> Result<(), MatchmakerError> {
    if party.id.is_empty()
        || party.id.len() > MAX_PLAYER_ID_BYTES
        || party.id.chars().any(|c| c.is_control())
    {
        return Err(MatchmakerError::InvalidRequest(format!(
            "party.id must be 1 to {MAX_PLAYER_ID_BYTES} bytes with no control characters"
        )));
    }
    let team = rules.team_size();
    if party.size < 2 || usize::from(party.size) > team {
        return Err(MatchmakerError::InvalidRequest(format!(
            "party.size must be 2 to {team}, the team size of mode {:?}",
            rules.name
        )));
    }
    Ok(())
}

/// Groups queued tickets (longest-waiting first) into units: each solo ticket alone, and each
/// party whose members are all queued as one unit of its `size` longest-waiting members. Members
/// of a party still gathering are left out until the rest arrive. Keeps the queue's order, by
/// each unit's first member.
pub(crate) fn units(tickets: Vec<Ticket>) -> Vec<Vec<Ticket>> {
    let mut count: HashMap<Party, usize> = HashMap::new();
    for party in tickets.iter().filter_map(|t| t.party.as_ref()) {
        *count.entry(party.clone()).or_default() += 1;
    }
    let mut units: Vec<Vec<Ticket>> = Vec::with_capacity(tickets.len());
    // Where each complete party's unit sits in `units`.
    let mut forming: HashMap<Party, usize> = HashMap::new();
    for ticket in tickets {
        let Some(party) = ticket.party.clone() else {
            units.push(vec![ticket]);
            continue;
        };
        if count[&party] < usize::from(party.size) {
            continue; // not everyone is here yet
        }
        match forming.get(&party) {
            Some(&at) if units[at].len() < usize::from(party.size) => units[at].push(ticket),
            Some(_) => {} // more members than the party's size: the extra ones wait
            None => {
                forming.insert(party, units.len());
                units.push(vec![ticket]);
            }
        }
    }
    units
}

#[cfg(test)]
mod tests {
    use protocol::api::TicketStatus;

    use super::*;
    use crate::ticket::TicketId;

    fn ticket(n: u128, party: Option<(&str, u8)>) -> Ticket {
        Ticket {
            id: TicketId(n),
            mode: "ffa".into(),
            player_id: format!("p{n}"),
            skill: 1000.0,
            region: None,
            party: party.map(|(id, size)| Party {
                id: id.into(),
                size,
            }),
            enqueued_ms: n as u64,
            updated_ms: n as u64,
            status: TicketStatus::Queued,
        }
    }

    fn ids(units: &[Vec<Ticket>]) -> Vec<Vec<u128>> {
        units
            .iter()
            .map(|u| u.iter().map(|t| t.id.0).collect())
            .collect()
    }

    #[test]
    fn complete_parties_become_one_unit_and_incomplete_ones_wait() {
        let queue = vec![
            ticket(1, Some(("a", 2))),
            ticket(2, None),
            ticket(3, Some(("b", 3))),
            ticket(4, Some(("a", 2))),
            ticket(5, Some(("b", 3))),
            ticket(6, Some(("a", 2))), // a third member of a party of two
        ];
        assert_eq!(ids(&units(queue)), vec![vec![1, 4], vec![2]]);
    }

    #[test]
    fn members_must_agree_on_the_size() {
        let queue = vec![ticket(1, Some(("a", 2))), ticket(2, Some(("a", 3)))];
        assert!(units(queue).is_empty());
    }

    #[test]
    fn parties_must_fit_a_team() {
        let ffa = ModeRules::free_for_all("ffa", 10);
        let teams = ModeRules::free_for_all("ffa", 10).with_teams(2);
        let party = |id: &str, size| Party {
            id: id.into(),
            size,
        };
        assert!(validate(&party("a", 2), &ffa).is_err());
        assert!(validate(&party("a", 5), &teams).is_ok());
        assert!(validate(&party("a", 6), &teams).is_err());
        assert!(validate(&party("a", 1), &teams).is_err());
        assert!(validate(&party("", 2), &teams).is_err());
        assert!(validate(&party(&"x".repeat(65), 2), &teams).is_err());
    }
}
