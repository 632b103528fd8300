//! What the storage adapters' load benchmarks (`pg`, `sqlite`) share: the
//! environment knobs, latency figures, a timed load of concurrent callers,
//! and the list part's data shape and queries.

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use invitation_core::{
    Filters, InvitationService, InvitationStore, ListQuery, ListRequest, Ordering, Principal,
    SearchTerm,
};
use invitation_testkit::doubles::{AllowAll, StaticDirectory};

use crate::{sample_input, CREATOR};

/// Any error, as the benchmarks report it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

// ------------------------------------------------------------- environment

/// `name`'s value, or `default` when it is unset or blank.
pub fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// `name`'s value as a number, or `default` when it is unset or blank.
///
/// # Errors
/// When it is set to something else than a number.
pub fn env_num<T: std::str::FromStr>(name: &str, default: T) -> Result<T, BoxError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map_err(|_| format!("{name}={v:?} is not a number").into()),
        _ => Ok(default),
    }
}

/// `name`'s value (or `default`) split at commas, blanks left out.
pub fn env_list(name: &str, default: &str) -> Vec<String> {
    env_or(name, default)
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The knobs every adapter benchmark reads.
#[derive(Debug, Clone)]
pub struct Knobs {
    /// `INVITATION_BENCH_PARTS`: the parts to run.
    pub parts: Vec<String>,
    /// `INVITATION_BENCH_CLIENTS`: the concurrent callers of each load.
    pub clients: Vec<usize>,
    /// `INVITATION_BENCH_SECS`: seconds per load run (default 10).
    pub secs: u64,
    /// `INVITATION_BENCH_ROUNDS`: load rounds per client count (default 3).
    pub rounds: usize,
    /// `INVITATION_BENCH_LIST_ROWS`: rows in the list part (default
    /// 1,000,000).
    pub list_rows: u64,
    /// `INVITATION_BENCH_LIST_RUNS`: timed runs per list query (default
    /// 200).
    pub list_runs: usize,
}

impl Knobs {
    /// The knobs from the environment, with the benchmark's own defaults
    /// for the parts and the client counts (comma-separated).
    ///
    /// # Errors
    /// When a knob is set to something that is not a number.
    pub fn from_env(default_parts: &str, default_clients: &str) -> Result<Self, BoxError> {
        let clients = env_list("INVITATION_BENCH_CLIENTS", default_clients)
            .iter()
            .map(|c| {
                c.parse::<usize>()
                    .map_err(|_| format!("bad client count {c:?}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            parts: env_list("INVITATION_BENCH_PARTS", default_parts),
            clients,
            secs: env_num("INVITATION_BENCH_SECS", 10)?,
            rounds: env_num("INVITATION_BENCH_ROUNDS", 3)?.max(1),
            list_rows: env_num("INVITATION_BENCH_LIST_ROWS", 1_000_000)?,
            list_runs: env_num("INVITATION_BENCH_LIST_RUNS", 200)?.max(1),
        })
    }

    /// Whether `part` is to run.
    pub fn wants(&self, part: &str) -> bool {
        self.parts.iter().any(|p| p == part)
    }
}

// ----------------------------------------------------------------- figures

/// Latencies in microseconds.
#[derive(Debug, Default)]
pub struct Latencies(pub Vec<u64>);

impl Latencies {
    /// Records one.
    pub fn push(&mut self, d: Duration) {
        self.0
            .push(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    /// Takes in all of `other`'s.
    pub fn extend(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `q` quantile (0..=1) in milliseconds; NaN when there are none.
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    pub fn quantile_ms(&mut self, q: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        self.0.sort_unstable();
        let last = self.0.len() - 1;
        let index = ((last as f64) * q).round() as usize;
        self.0[index.min(last)] as f64 / 1000.0
    }
}

/// The median; NaN for none.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Runs a benchmark's `main` on tokio's multi-threaded runtime: success
/// when it answers `Ok(true)`; failure when `Ok(false)` (a wrong result)
/// or an error, which it prints after `name`.
pub fn run_main(name: &str, main: impl Future<Output = Result<bool, BoxError>>) -> ExitCode {
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(BoxError::from)
        .and_then(|runtime| runtime.block_on(main));
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}

// -------------------------------------------------------------------- load

/// The use case on `store`, with the testkit's directory (knowing
/// [`CREATOR`]) and authorizer.
pub fn service_on(store: Arc<dyn InvitationStore>) -> InvitationService {
    let directory = Arc::new(StaticDirectory::new().with_user(CREATOR.get(), "alice"));
    InvitationService::new(store, directory.clone(), directory, Arc::new(AllowAll))
}

/// One call of a load: a caller does it over and over.
pub trait Load: Clone + Send + Sync + 'static {
    /// Does it once.
    fn once(&self) -> impl Future<Output = Result<(), BoxError>> + Send + '_;
}

/// CreateInvitation of [`sample_input`] by [`CREATOR`] through the use
/// case.
impl Load for InvitationService {
    async fn once(&self) -> Result<(), BoxError> {
        self.create(&Principal::user(CREATOR), sample_input())
            .await?;
        Ok(())
    }
}

/// What a timed load did.
#[derive(Debug)]
pub struct LoadResult {
    /// Calls completed per second.
    pub rate: f64,
    /// Each call's latency.
    pub latencies: Latencies,
}

/// A load through the adapter beside its baseline's, round after round.
#[derive(Debug, Default)]
pub struct Comparison {
    /// The adapter's rate in each round.
    pub adapter_rates: Vec<f64>,
    /// The baseline's rate in each round it ran.
    pub baseline_rates: Vec<f64>,
    /// Each round's ratio adapter / baseline.
    pub ratios: Vec<f64>,
    /// The adapter's latencies, pooled over the rounds.
    pub adapter: Latencies,
    /// The baseline's latencies, pooled over the rounds.
    pub baseline: Latencies,
}

impl Comparison {
    /// Records a round (`baseline` `None` when it did not run) and says
    /// it: `adapter <rate>/s  <baseline_name> <rate>/s  ratio <ratio>`.
    pub fn record(
        &mut self,
        adapter: LoadResult,
        baseline: Option<LoadResult>,
        baseline_name: &str,
    ) -> String {
        let baseline_rate = baseline.as_ref().map_or(f64::NAN, |b| b.rate);
        let ratio = adapter.rate / baseline_rate;
        let said = format!(
            "adapter {:>9.0}/s  {baseline_name} {baseline_rate:>9.0}/s  ratio {ratio:.3}",
            adapter.rate
        );
        self.adapter_rates.push(adapter.rate);
        self.adapter.extend(adapter.latencies);
        if let Some(baseline) = baseline {
            self.baseline_rates.push(baseline.rate);
            self.ratios.push(ratio);
            self.baseline.extend(baseline.latencies);
        }
        said
    }

    /// Table cells: the adapter's median rate, p50 and p99 ms; the
    /// baseline's; the median ratio.
    pub fn cells(&mut self) -> String {
        format!(
            "{:.0} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {:.2}",
            median(&mut self.adapter_rates),
            self.adapter.quantile_ms(0.5),
            self.adapter.quantile_ms(0.99),
            median(&mut self.baseline_rates),
            self.baseline.quantile_ms(0.5),
            self.baseline.quantile_ms(0.99),
            median(&mut self.ratios),
        )
    }
}

/// `clients` tasks doing `load` in a loop until `duration` has passed (a
/// call begun before then is finished and counted).
///
/// # Errors
/// The first error of a call, or a task that panicked.
#[allow(clippy::cast_precision_loss)]
pub async fn timed_load<L: Load>(
    clients: usize,
    duration: Duration,
    load: &L,
) -> Result<LoadResult, BoxError> {
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let load = load.clone();
            tokio::spawn(async move {
                let mut latencies = Latencies(Vec::with_capacity(1 << 16));
                loop {
                    let begun = Instant::now();
                    if begun >= deadline {
                        break;
                    }
                    load.once().await?;
                    latencies.push(begun.elapsed());
                }
                Ok::<_, BoxError>(latencies)
            })
        })
        .collect();
    let mut latencies = Latencies::default();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = start.elapsed().as_secs_f64();
    Ok(LoadResult {
        rate: latencies.len() as f64 / elapsed,
        latencies,
    })
}

/// `tasks` tasks doing `load` `times` times each, untimed: opens a pool's
/// connections and prepares their statements before a timed load.
///
/// # Errors
/// The first error of a call, or a task that panicked.
pub async fn warm_up<L: Load>(tasks: usize, times: usize, load: &L) -> Result<(), BoxError> {
    let tasks: Vec<_> = (0..tasks)
        .map(|_| {
            let load = load.clone();
            tokio::spawn(async move {
                for _ in 0..times {
                    load.once().await?;
                }
                Ok::<_, BoxError>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(())
}

// -------------------------------------------------------------------- list

/// The first page's size, as the API's default.
pub const PAGE: u64 = 20;
/// Names in the list data set: row `i` is named `team-<i mod NAMES>-invite`,
/// so each name is on LIST_ROWS / NAMES rows.
pub const NAMES: u64 = 10_000;
/// The name filter: the name of rows `i` with `i % NAMES == 4242`.
pub const NAME_FILTER: &str = "team-4242-invite";
/// The search word: in the names of the same rows (and in no expiry's
/// text, no creator's or flow's).
pub const SEARCH_WORD: &str = "4242";

/// Whether row `i` of the list data set bears [`NAME_FILTER`] (and so
/// matches [`SEARCH_WORD`]).
fn named(i: u64) -> bool {
    i % NAMES == 4242
}

/// One query of the list part, to the store and to the use case.
#[derive(Debug, Clone)]
pub struct ListCase {
    /// What it asks, for the table.
    pub label: &'static str,
    /// The store's query.
    pub query: ListQuery,
    /// The use case's request: the same query.
    pub request: ListRequest,
    /// Whether row `i` of the list data set matches it.
    pub matches: fn(u64) -> bool,
}

impl ListCase {
    /// How many of the list data set's first `rows` rows match.
    pub fn expected_total(&self, rows: u64) -> u64 {
        let matches = self.matches;
        (0..rows).map(|i| u64::from(matches(i))).sum()
    }
}

/// The first page with the default ordering, with a `name` filter, and
/// with one search word.
pub fn list_cases() -> Vec<ListCase> {
    let base = ListQuery {
        filters: Filters::default(),
        search: Vec::new(),
        ordering: Ordering::DEFAULT,
        offset: 0,
        limit: PAGE,
    };
    vec![
        ListCase {
            label: "first page, default ordering (-expires)",
            query: base.clone(),
            request: ListRequest::default(),
            matches: |_| true,
        },
        ListCase {
            label: "first page, name filter",
            query: ListQuery {
                filters: Filters {
                    name: Some(NAME_FILTER.to_owned()),
                    ..Filters::default()
                },
                ..base.clone()
            },
            request: ListRequest {
                name: Some(NAME_FILTER.to_owned()),
                ..ListRequest::default()
            },
            matches: named,
        },
        ListCase {
            label: "first page, search one word",
            query: ListQuery {
                search: vec![SearchTerm {
                    text: SEARCH_WORD.to_owned(),
                    creators: Vec::new(),
                    flows: Vec::new(),
                }],
                ..base
            },
            request: ListRequest {
                search: Some(SEARCH_WORD.to_owned()),
                ..ListRequest::default()
            },
            matches: named,
        },
    ]
}

/// A list case's timings and what it answered.
#[derive(Debug)]
pub struct ListTimes {
    /// The store's total.
    pub total: u64,
    /// The store's page length.
    pub items: usize,
    /// The use case's total.
    pub use_case_total: u64,
    /// The use case's page length.
    pub use_case_items: usize,
    /// Through the store's `list`.
    pub direct: Latencies,
    /// Through the list use case.
    pub use_case: Latencies,
}

impl ListTimes {
    /// Table cells `p50 | p99 | p50 | p99` in ms, the store's figures then
    /// the use case's.
    pub fn cells(&mut self) -> String {
        format!(
            "{:.2} | {:.2} | {:.2} | {:.2}",
            self.direct.quantile_ms(0.5),
            self.direct.quantile_ms(0.99),
            self.use_case.quantile_ms(0.5),
            self.use_case.quantile_ms(0.99),
        )
    }

    /// The start of a table row: `| label | total | p50 | p99 | p50 | p99 |`
    /// in ms, the store's figures then the use case's.
    pub fn table_row(&mut self, label: &str) -> String {
        let cells = self.cells();
        format!("| {label} | {} | {cells} |", self.total)
    }

    /// What the answers to `case` got wrong on the list data set's first
    /// `rows` rows, or `None` when every total and page length is the data
    /// set's.
    pub fn mismatch(&self, case: &ListCase, rows: u64) -> Option<String> {
        let total = case.expected_total(rows);
        let items = usize::try_from(total.min(PAGE)).unwrap_or(usize::MAX);
        ((self.total, self.use_case_total) != (total, total)
            || (self.items, self.use_case_items) != (items, items))
            .then(|| {
                format!(
                    "list, {}: totals {} and {} with pages of {} and {}, expected {total} with {items}: MISMATCH",
                    case.label, self.total, self.use_case_total, self.items, self.use_case_items
                )
            })
    }
}

/// `case` through `store.list` and through `service.list`, alternately:
/// 10 warm-up runs, then `runs` timed runs of each, one caller.
///
/// # Errors
/// The first error of a call.
pub async fn time_list(
    store: &dyn InvitationStore,
    service: &InvitationService,
    case: &ListCase,
    runs: usize,
) -> Result<ListTimes, BoxError> {
    let caller = Principal::user(CREATOR);
    for _ in 0..10 {
        store.list(&case.query).await?;
        service.list(&caller, &case.request).await?;
    }
    let mut times = ListTimes {
        total: 0,
        items: 0,
        use_case_total: 0,
        use_case_items: 0,
        direct: Latencies::default(),
        use_case: Latencies::default(),
    };
    for _ in 0..runs {
        let begun = Instant::now();
        let page = store.list(&case.query).await?;
        times.direct.push(begun.elapsed());
        (times.total, times.items) = (page.total, page.items.len());
        std::hint::black_box(page);
        let begun = Instant::now();
        let page = service.list(&caller, &case.request).await?;
        times.use_case.push(begun.elapsed());
        (times.use_case_total, times.use_case_items) = (page.total, page.results.len());
        std::hint::black_box(page);
    }
    Ok(times)
}
