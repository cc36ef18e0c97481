//! The syncer's operations: plan, apply, sync and remove (import has its own file).

use std::collections::HashSet;

use tracing::{debug, info, Instrument};

use super::claims;
use super::outcome::{Outcome, OutcomeStatus};
use super::run::Run;
use super::syncer::Syncer;
use crate::destination::{Change, Writer};
use crate::engine::report::{Operation, SyncReport};
use crate::error::{Error, ErrorKind, Result};
use crate::plan::ownership::{Claim, Ownership};
use crate::plan::stored::StoredSchema;
use crate::plan::{Plan, PlanAction};
use crate::schema::KeySchema;
use crate::state::Ledger;

impl Syncer {
    /// Reads the source and the destination and plans. Writes nothing.
    ///
    /// # Errors
    ///
    /// A source error (nothing is planned from a partial source), a list error, or a
    /// refusal from [`plan`](crate::plan()) naming every key involved.
    pub async fn plan(&self) -> Result<Plan> {
        let run = Run::start();
        let span = tracing::info_span!("plan", sync_id = %self.id);
        let work = async {
            let read = self.read(&run).await?;
            let plan = self.plan_from(&read)?;
            log_plan(&plan);
            Ok(plan)
        };
        let planned: Result<Plan> = run.requests.scope(work).instrument(span).await;
        planned.map_err(|err| run.scrub(&err))
    }

    /// Applies a plan made by this syncer; records the ledger and the status.
    ///
    /// Failed keys do not make this an `Err`: they are in the report (`counts.failed`,
    /// [`SyncReport::failed_keys`]) and the status record says `failed`. The plan's snapshot
    /// version is the batch write's precondition: if the set changed since the plan, every
    /// change fails as a conflict and nothing is written. A destination with an exclusive
    /// scope is written under its scope lock.
    ///
    /// # Errors
    ///
    /// [`Config`](ErrorKind::Config) if the plan was made for another destination.
    pub async fn apply(&self, plan: &Plan) -> Result<SyncReport> {
        let run = Run::start();
        let span = tracing::info_span!("apply", sync_id = %self.id, job_id = %run.job_id);
        run.requests
            .scope(self.apply_planned(&run, plan))
            .instrument(span)
            .await
    }

    async fn apply_planned(&self, run: &Run, plan: &Plan) -> Result<SyncReport> {
        if let Err(err) = self.refuse_if_disabled(Operation::Sync) {
            return self.fail(Operation::Sync, run, err);
        }
        let info = self.destination.info();
        if plan.destination() != info.to_string() {
            let err = Error::config(format!(
                "this plan was made for {}, not {info}",
                plan.destination()
            ));
            return self.fail(Operation::Sync, run, err);
        }
        let prepared = async {
            let lock = self.prepare_apply(run).await?;
            Ok::<_, Error>((lock, self.load_ledger().await?.0))
        };
        let (lock, ledger) = match prepared.await {
            Ok(p) => p,
            Err(err) => return self.fail(Operation::Sync, run, err),
        };
        let outcomes = self
            .execute(
                run,
                plan.changes(),
                plan.snapshot_version(),
                ledger.as_ref(),
            )
            .await;
        drop(lock);
        Ok(self
            .conclude(Operation::Sync, run, Some(plan), outcomes, ledger.as_ref())
            .await)
    }

    /// Plans and applies. Re-running with nothing changed makes no writes.
    ///
    /// With an importing [`InitialSyncBehavior`](crate::InitialSyncBehavior), the initial sync imports first. A batch
    /// write that lost a race (its version precondition failed) is read, planned and
    /// written again, up to [`SyncOptions::conflict_retries`](crate::SyncOptions::conflict_retries)
    /// times. The whole run ends by its deadline; see
    /// [`SyncOptions::deadline`](crate::SyncOptions::deadline).
    ///
    /// # Errors
    ///
    /// As [`plan`](Self::plan); [`Disabled`](ErrorKind::Disabled) for a disabled sync;
    /// failed keys are in the report, not an `Err`.
    pub async fn sync(&self) -> Result<SyncReport> {
        if let Err(err) = self.refuse_if_disabled(Operation::Sync) {
            return self.fail(Operation::Sync, &Run::start(), err);
        }
        if self.options.initial_sync_behavior.imports() && self.is_initial().await? {
            let report = self.import().await?;
            if !report.is_success() {
                return Ok(report);
            }
        }
        let run = Run::start();
        let span = tracing::info_span!("sync", sync_id = %self.id, job_id = %run.job_id);
        run.requests
            .scope(self.sync_run(&run))
            .instrument(span)
            .await
    }

    async fn sync_run(&self, run: &Run) -> Result<SyncReport> {
        let mut attempt = 0;
        loop {
            let read = match self.read(run).await {
                Ok(read) => read,
                Err(err) => return self.fail(Operation::Sync, run, err),
            };
            let plan = match self.plan_from(&read) {
                Ok(plan) => plan,
                Err(err) => return self.fail(Operation::Sync, run, err),
            };
            log_plan(&plan);
            let outcomes = self
                .execute(
                    run,
                    plan.changes(),
                    plan.snapshot_version(),
                    read.ledger.as_ref(),
                )
                .await;
            drop(read._lock);
            let retry = attempt < self.options.conflict_retries && !self.stop.is_stopped();
            if self.lost_race(&outcomes) && retry {
                attempt += 1;
                info!(sync_id = %self.id, attempt, "batch write lost a race; reading and planning again");
                continue;
            }
            return Ok(self
                .conclude(
                    Operation::Sync,
                    run,
                    Some(&plan),
                    outcomes,
                    read.ledger.as_ref(),
                )
                .await);
        }
    }

    fn lost_race(&self, outcomes: &[Outcome]) -> bool {
        matches!(self.destination.writer(), Writer::Batch(_))
            && !outcomes.is_empty()
            && outcomes.iter().all(|o| {
                matches!(&o.status, OutcomeStatus::Failed(e) if e.kind() == ErrorKind::Conflict)
            })
    }

    /// Records the ledger (settled after a sync where everything was applied) and reports.
    async fn conclude(
        &self,
        operation: Operation,
        run: &Run,
        plan: Option<&Plan>,
        outcomes: Vec<Outcome>,
        before: Option<&Ledger>,
    ) -> SyncReport {
        let changes = plan.map(Plan::changes).unwrap_or_default();
        let settle = operation == Operation::Sync && outcomes.iter().all(Outcome::is_applied);
        let mut warnings: Vec<String> = plan
            .map(Plan::warnings)
            .unwrap_or_default()
            .iter()
            .map(|w| format!("{}: {}", w.key, w.message))
            .collect();
        let stale = plan.map(Plan::stale_claims).unwrap_or_default();
        warnings.extend(
            self.record_ledger(changes, &outcomes, before, stale, settle)
                .await,
        );
        self.report(operation, run, plan, outcomes, warnings)
    }

    /// Deletes every destination entry this sync owns ([`Ownership`]): with a ledger, the
    /// schema-owned entries the ledger records; without one, the schema-owned entries the
    /// source renders to (as the KMS's remove does). Protected and foreign entries are never
    /// touched.
    ///
    /// # Errors
    ///
    /// A source or list error (nothing is deleted); failed keys are in the report.
    pub async fn remove(&self) -> Result<SyncReport> {
        let run = Run::start();
        let span = tracing::info_span!("remove", sync_id = %self.id, job_id = %run.job_id);
        run.requests
            .scope(self.remove_run(&run))
            .instrument(span)
            .await
    }

    async fn remove_run(&self, run: &Run) -> Result<SyncReport> {
        if let Err(err) = self.refuse_if_disabled(Operation::Remove) {
            return self.fail(Operation::Remove, run, err);
        }
        let read = match self.read(run).await {
            Ok(read) => read,
            Err(err) => return self.fail(Operation::Remove, run, err),
        };
        let env = read.source.environment();
        // Keys by the names the destination stores, as the plan has them.
        let schema = StoredSchema::new(&*self.schema, self.destination.rules(), env);
        let mut ownership = Ownership::new(&schema, env);
        if let Some(ledger) = &read.ledger {
            ownership = ownership.with_ledger(ledger, false);
        }
        let rendered: HashSet<String> = read.source.keys().map(|k| schema.render(k, env)).collect();
        let changes: Vec<Change> = read
            .snapshot
            .entries()
            .iter()
            .filter(|e| ownership.claim(e) == Claim::Owned)
            .filter(|e| ownership.uses_ledger() || rendered.contains(e.key()))
            .map(|e| Change::delete(e.clone()))
            .collect();
        let outcomes = self
            .execute(run, &changes, read.snapshot.version(), read.ledger.as_ref())
            .await;
        drop(read._lock);
        let stale = read.ledger.as_ref().map_or_else(Vec::new, |ledger| {
            let listed: HashSet<&str> = read.snapshot.entries().iter().map(|e| e.key()).collect();
            claims::stale(ledger, |k| listed.contains(k), |_| false)
        });
        let mut warnings = Vec::new();
        warnings.extend(
            self.record_ledger(&changes, &outcomes, read.ledger.as_ref(), &stale, false)
                .await,
        );
        Ok(self.report(Operation::Remove, run, None, outcomes, warnings))
    }
}

fn log_plan(plan: &Plan) {
    let c = plan.counts();
    info!(
        create = c.create,
        update = c.update,
        delete = c.delete,
        unchanged = c.unchanged,
        skip = c.skip,
        "planned"
    );
    for item in plan.items() {
        if item.action != PlanAction::Unchanged {
            debug!(key = %item.key, action = %item.action, reason = item.reason.as_ref().map_or("", |r| r.text()), "plan item");
        }
    }
}
