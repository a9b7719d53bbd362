import ArgumentParser
import Foundation
import Logging
import TallyCore
import TallyIngest
import TallyServer
import TallyStore

/// The options of Squid access logs, shared by `tally ingest --format squid` and `tally tail`.
struct SquidOptions: ParsableArguments {
    @Option(help: "The product Squid lines are usage of (default: the only product of the configuration).")
    var product: String?

    @Option(help: "The Squid logformat the log was written with, in Squid's % codes, e.g. '%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %>st %rm %ru %[un %Sh/%<a %mt' (default: Squid's native format).")
    var logformat: String?

    /// A meter over the accounts with their run-time changes (made through the admin API or
    /// `tally accounts`) as they are now.
    func meter(_ config: TallyConfig, logger: Logger) async throws -> SquidMeter {
        let names = config.products.names
        guard let name = product ?? (names.count == 1 ? names[0] : nil) else {
            throw ValidationError("--product is required (one of: \(names.joined(separator: ", ")))")
        }
        let accounts = try await TallyRuntime.accountDirectory(config, logger: logger)
        do {
            return try SquidMeter(config: config, product: name, logformat: logformat, accounts: accounts)
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// `tally ingest --format squid FILE...`: prints a summary; exit status 1 when a line was
    /// malformed or rejected or a file could not be read (everything else is committed).
    func ingest(files: [String], common: CommonOptions) async throws {
        let logger = common.logger("tally.ingest")
        let config = try common.load()
        let meter = try await meter(config, logger: logger)
        let store = try await TallyRuntime.openStore(config, logger: logger)
        let ingestor = SquidIngestor(store: store, meter: meter, now: now(), logger: logger)
        let started = Date()
        var total = SquidTally()
        var failed = false
        let bar = ProgressBar()
        let err = FileHandle.standardError
        for file in files {
            do {
                let tally = try await ingestor.ingest(path: file) { done, all in bar.show(file: file, done: Int(done), total: Int(all)) }
                bar.clear()
                for p in tally.problems { err.write(Data("\(file):\(p.line): \(p.reason)\n".utf8)) }
                // Rejected lines of unknown users are summed up per user below, not listed.
                let unknown = config.ingest.unassignedAccount == nil ? tally.unknownUsers.values.reduce(0, +) + tally.otherUnknown : 0
                let unlisted = tally.malformed + tally.rejected - unknown - tally.problems.count
                if unlisted > 0 { err.write(Data("\(file): \(unlisted) more problem line(s) not listed\n".utf8)) }
                try total.merge(tally)
            } catch {
                bar.clear()
                err.write(Data("\(file): \(error)\n".utf8))
                failed = true
            }
        }
        try await store.close()
        if !total.unknownUsers.isEmpty || total.otherUnknown > 0 {
            let fate = config.ingest.unassignedAccount.map { "counted under \($0)" } ?? "rejected: no ingest.unassigned_account"
            err.write(Data("unknown users (\(fate)): \(total.unknownUserList)\n".utf8))
        }
        let secs = max(Date().timeIntervalSince(started), 0.000_001)
        print("ingested \(files.count) file(s): \(total.summary) in \(String(format: "%.2f", secs)) s (\(Int(Double(total.lines) / secs)) lines/s)")
        if failed || total.malformed + total.rejected > 0 { throw ExitCode(1) }
    }
}

struct Tail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Follow a live Squid access log into the store, exactly once, through log rotation and restarts.",
        discussion: """
            Each commit (every second) stores the read position (file identity and offset) in the same \
            transaction as the usage, so a restart resumes exactly after the last committed line. \
            SIGTERM or SIGINT commits what was read and exits.
            """)

    @OptionGroup var common: CommonOptions

    @Option(help: "The log format: squid (the only one a live log can have).")
    var format: String = "squid"

    @OptionGroup var squid: SquidOptions

    @Argument(help: "The log file to follow (it may not exist yet).")
    var file: String

    func validate() throws {
        if format != "squid" { throw ValidationError("--format must be squid") }
    }

    func run() async throws {
        let logger = common.logger("tally.tail")
        let config = try common.load()
        let meter = try await squid.meter(config, logger: logger)
        let store = try await TallyRuntime.openStore(config, logger: logger)
        var service = TailService(path: file, meter: meter, store: store, logger: logger, now: now)
        service.finished = { totals in
            print("followed \(file): \(totals.summary)")
        }
        try await TailService.runUntilSignalled([service], logger: logger)
        try await store.close()
    }
}
