//! Manual and test calls are made while the caller waits, each holding a
//! connection: bounded per organization and overall, so one tenant's
//! burst cannot take the sockets another's deliveries need.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use selki_domain::OrganizationId;

use crate::error::ApiError;

#[derive(Debug)]
pub(crate) struct ManualCalls {
    per_organization: usize,
    overall: usize,
    in_flight: Mutex<InFlight>,
}

#[derive(Debug, Default)]
struct InFlight {
    total: usize,
    by_organization: HashMap<OrganizationId, usize>,
}

/// One call's place; given back when dropped.
#[derive(Debug)]
pub(crate) struct Permit {
    calls: Arc<ManualCalls>,
    organization: OrganizationId,
}

impl ManualCalls {
    pub(crate) fn new(per_organization: usize, overall: usize) -> Self {
        Self {
            per_organization: per_organization.max(1),
            overall: overall.max(1),
            in_flight: Mutex::new(InFlight::default()),
        }
    }

    /// A place for one more call of `organization`, or why there is none.
    pub(crate) fn admit(
        self: &Arc<Self>,
        organization: &OrganizationId,
    ) -> Result<Permit, ApiError> {
        let mut in_flight = self.lock();
        let mine = in_flight
            .by_organization
            .get(organization)
            .copied()
            .unwrap_or(0);
        if mine >= self.per_organization {
            return Err(ApiError::ResourceExhausted(format!(
                "organization `{organization}` has {mine} manual or test calls in flight, the most \
                 it may; wait for one to finish"
            )));
        }
        if in_flight.total >= self.overall {
            return Err(ApiError::ResourceExhausted(format!(
                "this server has {} manual or test calls in flight, the most it makes at once; \
                 retry shortly",
                in_flight.total
            )));
        }
        in_flight.total += 1;
        *in_flight
            .by_organization
            .entry(organization.clone())
            .or_default() += 1;
        Ok(Permit {
            calls: self.clone(),
            organization: organization.clone(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, InFlight> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut in_flight = self.calls.lock();
        in_flight.total -= 1;
        if let Some(n) = in_flight.by_organization.get_mut(&self.organization) {
            *n -= 1;
            if *n == 0 {
                in_flight.by_organization.remove(&self.organization);
            }
        }
    }
}
