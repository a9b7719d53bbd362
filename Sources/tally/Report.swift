import ArgumentParser
import Foundation
import TallyCore
import TallyReports
import TallySQLite
import TallyServer
import TallyStore

struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a usage report: an aligned table on a terminal, CSV or JSON otherwise.")

    @OptionGroup var common: CommonOptions

    @Option(help: "Account id, username or hash.") var account: String
    @Option(help: "node (the account alone) or subtree (default).") var scope: String = "subtree"
    @Option(help: "Product name.") var product: String
    @Option(help: "Start: RFC 3339 instant or YYYY-MM-DD (midnight in --tz), inclusive.") var from: String
    @Option(help: "End: RFC 3339 instant or YYYY-MM-DD, exclusive.") var to: String
    @Option(help: "15m, hour, day, week, month or total.") var bucket: String = "day"
    @Option(help: "IANA time zone.") var tz: String = "UTC"
    @Option(help: "First day of a week.") var weekStart: String = "monday"
    @Option(help: "Comma-separated dimensions (or account).") var groupBy: String?
    @Option(help: "dimension=v1,v2 (repeatable).") var filter: [String] = []
    @Option(help: "Comma-separated metrics.") var metrics: String?
    @Option(help: "table, csv or json (default: table on a terminal, csv otherwise).") var format: String?
    @Flag(help: "Print the plan (buckets, tier, and the store's query plan) instead of the report.") var explain = false

    func run() async throws {
        let logger = common.logger("tally.report")
        let config = try common.load()
        let accounts = try await TallyRuntime.accountDirectory(config, logger: logger)
        guard let acct = accounts.resolve(account) else { throw ValidationError("no account \"\(account)\"") }
        guard let zone = Zone(named: tz) else { throw ValidationError("unknown time zone \"\(tz)\"") }
        guard let b = Bucket(rawValue: bucket) else { throw ValidationError("--bucket must be one of 15m, hour, day, week, month, total") }
        guard let ws = WeekStart(name: weekStart) else { throw ValidationError("unknown --week-start \"\(weekStart)\"") }
        func instant(_ s: String, _ name: String) throws -> Int64 {
            if let t = zone.instant(parsing: s) { return t }
            throw ValidationError("--\(name) must be an RFC 3339 instant or YYYY-MM-DD")
        }
        var q = ReportQuery(accounts: scope == "node" ? [acct.id] : accounts.subtree(of: acct.id), product: product,
                            from: try instant(from, "from"), to: try instant(to, "to"))
        q.bucket = b
        q.zone = zone
        q.weekStart = ws
        for g in (groupBy ?? "").split(separator: ",").map(String.init) {
            if g == "account" { q.groupByAccount = true } else { q.groupBy.append(g) }
        }
        q.metrics = (metrics ?? "").split(separator: ",").map(String.init)
        for f in filter {
            let parts = f.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { throw ValidationError("--filter must look like dimension=v1,v2") }
            q.filters[String(parts[0]), default: []] += parts[1].split(separator: ",").map(String.init)
        }
        let store = try await TallyRuntime.openStore(config, logger: logger)
        let engine = ReportEngine(store: store, catalog: config.products, now: now)
        let result: ReportResult
        do {
            result = try await engine.run(q)
        } catch let e as ReportError {
            throw ValidationError(e.description)
        }
        if explain {
            print("buckets: \(result.plan.boundaries.count - 1), tier: \(result.plan.tier.label), rows: \(result.rows.count)")
            if let sqlite = store as? SQLiteUsageStore, let sq = try engine.storeQueries(q).first {
                for line in try await sqlite.explain(sq) { print("sqlite: " + line) }
            }
            return
        }
        let fmt = format ?? (isatty(1) == 1 ? "table" : "csv")
        switch fmt {
        case "csv": print(NativeRendering.csvHeader(result) + NativeRendering.csvRows(result.rows, of: result), terminator: "")
        case "json": print("[" + result.rows.map { NativeRendering.jsonRow($0, of: result) }.joined(separator: ",\n") + "]")
        case "table": print(table(result))
        default: throw ValidationError("--format must be table, csv or json")
        }
    }

    func table(_ r: ReportResult) -> String {
        let csv = NativeRendering.csvHeader(r) + NativeRendering.csvRows(r.rows, of: r)
        let rows = CSV.parse(csv)
        guard let header = rows.first else { return "" }
        let numericFrom = header.count - r.metrics.count
        let widths = (0..<header.count).map { c in rows.map { $0.count > c ? $0[c].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { c, cell in
                let pad = String(repeating: " ", count: widths[c] - cell.count)
                return c >= numericFrom ? pad + cell : cell + pad
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
