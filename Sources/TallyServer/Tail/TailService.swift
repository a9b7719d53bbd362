import Logging
import ServiceLifecycle
import TallyCore
import TallyIngest
import TallyStore

/// Follows one Squid access log (a `tail:` entry) as a service; on graceful shutdown it
/// commits what it read, with its position, before returning.
public struct TailService: Service {
    public let path: String
    public let meter: SquidMeter
    public let store: any UsageStore
    let logger: Logger
    let now: @Sendable () -> Int64
    /// Gets the counts of every committed line when the service stops.
    public var finished: @Sendable (SquidTally) -> Void = { _ in }
    /// The live account tree (see ``SquidTailer/accounts``); nil keeps the meter's.
    public var accounts: (@Sendable () -> AccountDirectory)?

    public init(path: String, meter: SquidMeter, store: any UsageStore, logger: Logger, now: @escaping @Sendable () -> Int64) {
        self.path = path
        self.meter = meter
        self.store = store
        self.logger = logger
        self.now = now
    }

    /// One service per `tail:` entry of the configuration, resolving user names through the
    /// runtime's live accounts (an account created through the admin API is metered at once).
    public static func services(runtime: TallyRuntime) throws -> [TailService] {
        try runtime.config.tail.map { t in
            let meter = try SquidMeter(config: runtime.config, product: t.product, logformat: t.logformat, accounts: runtime.directory)
            var service = TailService(path: t.path, meter: meter, store: runtime.store, logger: runtime.logger, now: runtime.now)
            service.accounts = { runtime.directory }
            return service
        }
    }

    public func run() async throws {
        let (path, meter, store, logger, now, accounts) = (path, meter, store, logger, now, accounts)
        let totals = try await cancelWhenGracefulShutdown {
            let tailer = try await SquidTailer.resuming(path: path, meter: meter, store: store, logger: logger, now: now)
            tailer.accounts = accounts
            await tailer.run()
            return tailer.totals
        }
        finished(totals)
    }

    /// Runs tail services until SIGTERM or SIGINT, then lets each commit and stop (`tally tail`).
    public static func runUntilSignalled(_ services: [TailService], logger: Logger) async throws {
        let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) },
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

