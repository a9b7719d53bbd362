import Crypto
import Foundation
import Logging
import Prometheus
import TallyClickHouse
import TallyCore
import TallyIngest
import TallyReports
import TallySQLite
import TallyStore

/// Who a request acts for once its credential is checked.
public enum Principal: Sendable, Equatable {
    /// A service token from `ingest.tokens`: may ingest for any account, reads nothing.
    case service
    /// An account's own credential: reads and ingests within the account's subtree.
    case account(String)
}

/// Prometheus instruments of one server (a registry per app, so tests can build many).
public struct TallyMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    public let eventsAccepted: Counter
    public let eventsDuplicate: Counter
    public let eventsRejected: Counter
    public let ingestLatency: DurationHistogram
    public let reportLatency: DurationHistogram
    public let storeBytes: Gauge

    public init() {
        let buckets: [Duration] = [.milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
                                   .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5)]
        eventsAccepted = registry.makeCounter(descriptor: .init(namespace: "tally", metricName: "events_accepted", unitName: "total", helpText: "Usage events committed"))
        eventsDuplicate = registry.makeCounter(descriptor: .init(namespace: "tally", metricName: "events_duplicate", unitName: "total", helpText: "Usage events dropped as duplicates of an earlier event id"))
        eventsRejected = registry.makeCounter(descriptor: .init(namespace: "tally", metricName: "events_rejected", unitName: "total", helpText: "Usage events refused as invalid"))
        ingestLatency = registry.makeDurationHistogram(descriptor: .init(namespace: "tally", metricName: "ingest_duration", unitName: "seconds", helpText: "Ingest request latency, commit included"), buckets: buckets)
        reportLatency = registry.makeDurationHistogram(descriptor: .init(namespace: "tally", metricName: "report_duration", unitName: "seconds", helpText: "Report request latency"), buckets: buckets)
        storeBytes = registry.makeGauge(descriptor: .init(namespace: "tally", metricName: "store_size", unitName: "bytes", helpText: "Bytes the store occupies on disk"))
    }
}

/// Everything a running Tally shares between its faces: configuration, store, engine, credentials.
public struct TallyRuntime: Sendable {
    public let config: TallyConfig
    public let store: any UsageStore
    public let engine: ReportEngine
    /// Run-time account management (the admin API) over the live `registry`.
    public let accounts: AccountManager
    /// The live accounts and credential tables (`directory`, `bearerCaller`, `apiKeyCaller`...).
    public var registry: AccountRegistry { accounts.registry }
    let jwtKeys: JWTKeyRing
    let rateLimiter: RateLimiter
    public let metrics: TallyMetrics
    public let now: @Sendable () -> Int64
    public let logger: Logger

    /// `accounts` from `openAccounts` carries run-time account changes; nil keeps them in memory.
    public init(config: TallyConfig, store: any UsageStore, accounts: AccountManager? = nil, logger: Logger, now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }) {
        self.config = config
        self.store = store
        self.engine = ReportEngine(store: store, catalog: config.products, now: now)
        self.accounts = accounts ?? AccountManager(config: config, store: MemoryAccountStore(), records: [], logger: logger, now: now)
        self.jwtKeys = JWTKeyRing(config: config.auth, logger: logger)
        self.rateLimiter = RateLimiter(limits: config.auth.rateLimits)
        self.metrics = TallyMetrics()
        self.now = now
        self.logger = logger
    }

    /// Opens the store the configuration names; only here and in `tally` is a backend chosen.
    public static func openStore(_ config: TallyConfig, logger: Logger) async throws -> any UsageStore {
        let store: any UsageStore
        switch config.storage.kind {
        case "memory": store = MemoryUsageStore()
        case "sqlite": store = try SQLiteUsageStore(path: config.storage.path, logger: logger)
        case "clickhouse":
            let s = config.storage, accounts = config.accounts
            let ch = ClickHouseStoreConfiguration(url: s.url ?? "", database: s.database ?? "tally", user: s.user, password: s.password, cluster: s.cluster, shards: s.shards)
            // Rows of one top-level account share a shard (accounts added at run time place as their own root).
            store = try ClickHouseUsageStore(configuration: ch, logger: logger) { id in
                var root = id
                while let parent = accounts[root]?.parentID { root = parent }
                return root
            }
        default: throw ConfigError(problems: [ConfigProblem("storage.kind", "\(config.storage.kind) is not available in this build")])
        }
        try await store.prepare(products: config.products)
        return store
    }

    public func validator(scope: String?) -> EventValidator {
        EventValidator(catalog: config.products, accounts: scope == nil ? directory : registry.snapshot.activeDirectory, maxFuture: config.ingest.maxFuture, scope: scope, now: now())
    }

    /// Commits validated events as one batch and counts them.
    public func commit(_ events: [UsageEvent], idempotencyKey: String?) async throws -> IngestReceipt {
        try await commit(EventColumns(events), idempotencyKey: idempotencyKey)
    }

    /// Commits decoded event columns as one batch and counts them.
    public func commit(_ columns: EventColumns, idempotencyKey: String?) async throws -> IngestReceipt {
        let receipt = try await store.commit(IngestBatch(columns: columns, idempotencyKey: idempotencyKey, receivedAt: now()), dedupWindow: config.ingest.dedupWindow)
        if !receipt.replayed {
            metrics.eventsAccepted.increment(by: Int64(receipt.accepted))
            metrics.eventsDuplicate.increment(by: Int64(receipt.duplicates))
        }
        return receipt
    }
}
