//! The audit trail of one request's denials: every denial is counted, and each (operation,
//! resource type) pair is logged once per request at INFO, with the first names it denied
//! and how many there were. A request naming a million groups costs a line, not a million.

use kafka_protocol::messages::ApiKey;

use super::Caller;
use crate::authz::{Grounds, Operation, ResourceType};
use crate::clip::Clip;

/// Names shown in one audit line; the rest are counted.
const SHOWN: usize = 5;

/// The denials of one request, gathered until [`Audit::log`].
#[derive(Default)]
pub(super) struct Audit {
    lines: Vec<Line>,
}

struct Line {
    operation: Operation,
    resource: ResourceType,
    /// Why the first denial was made: the binding that denied it, or none matching.
    grounds: String,
    names: Vec<String>,
    count: usize,
}

impl Audit {
    /// Records one denial.
    pub(super) fn deny(
        &mut self,
        operation: Operation,
        resource: ResourceType,
        name: &str,
        grounds: &Grounds<'_>,
    ) {
        let at = self
            .lines
            .iter()
            .position(|l| l.operation == operation && l.resource == resource);
        let line = match at {
            Some(i) => &mut self.lines[i],
            None => {
                self.lines.push(Line {
                    operation,
                    resource,
                    grounds: match grounds {
                        Grounds::Binding(b) => format!("denied by {b}"),
                        Grounds::NoMatch => "no matching ALLOW binding".to_owned(),
                        Grounds::SuperUser(_) => String::new(),
                    },
                    names: Vec::new(),
                    count: 0,
                });
                let last = self.lines.len() - 1;
                &mut self.lines[last]
            }
        };
        line.count += 1;
        if line.names.len() < SHOWN {
            line.names.push(Clip(name).to_string());
        }
    }

    /// Writes the request's audit lines: who, what, on which resources, through which API,
    /// from where, and the binding (or absence of one) that decided the first of them.
    pub(super) fn log(self, caller: &Caller, api: ApiKey) {
        for line in self.lines {
            let kind = line.resource.kafka_name();
            let resource = format!("{kind}:{}", line.names[0]);
            let principal = format_args!("User:{}", Clip(caller.user()));
            if line.count == 1 {
                tracing::info!(
                    organization = %caller.organization(),
                    %principal,
                    operation = %line.operation,
                    %resource,
                    api = ?api,
                    client = %caller.peer,
                    grounds = %line.grounds,
                    "authorization denied"
                );
                continue;
            }
            let unnamed = line.count - line.names.len();
            let mut others: Vec<String> = line.names[1..]
                .iter()
                .map(|n| format!("{kind}:{n}"))
                .collect();
            if unnamed > 0 {
                others.push(format!("and {unnamed} more"));
            }
            tracing::info!(
                organization = %caller.organization(),
                %principal,
                operation = %line.operation,
                %resource,
                denied = line.count,
                also = %others.join(", "),
                api = ?api,
                client = %caller.peer,
                grounds = %line.grounds,
                "authorization denied"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denials_of_one_kind_share_a_line_with_the_first_names() {
        let mut audit = Audit::default();
        for i in 0..1000 {
            audit.deny(
                Operation::Describe,
                ResourceType::Group,
                &format!("g{i}"),
                &Grounds::NoMatch,
            );
        }
        audit.deny(
            Operation::Read,
            ResourceType::Topic,
            "orders",
            &Grounds::NoMatch,
        );
        assert_eq!(audit.lines.len(), 2);
        assert_eq!(audit.lines[0].count, 1000);
        assert_eq!(audit.lines[0].names, ["g0", "g1", "g2", "g3", "g4"]);
        assert_eq!(audit.lines[1].count, 1);
    }

    #[test]
    fn long_names_are_cut() {
        let mut audit = Audit::default();
        let long = "n".repeat(100_000);
        audit.deny(
            Operation::Describe,
            ResourceType::Group,
            &long,
            &Grounds::NoMatch,
        );
        assert!(audit.lines[0].names[0].len() < 400);
    }
}
