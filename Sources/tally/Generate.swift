import ArgumentParser
import Foundation
import TallyCore
import TallyIngest
import TallyServer

struct Generate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write seeded synthetic usage (proxy traffic, messaging) as native NDJSON, CloudEvents, Squid log lines or CSV.",
        discussion: """
        The same seed and options always give the same bytes, at any scale; an hour of an account holds the same
        events whatever range it is generated in. Residential events fit the product `residential` (hostname, port,
        country, status; bytes, requests) and messaging events the product `messaging` (direction, currency,
        message_type, country_code; cost with 6 decimals, parts, count), as in the README's configuration.
        """)

    @Option(help: "Residential sub-users (comma-separated), heaviest first: account i gets a share proportional to 1/sqrt(i+1).")
    var accounts: String = "acme-sub1"
    @Option(help: "Messaging accounts (comma-separated); none by default.") var messagingAccounts: String = ""
    @Option(help: "First day, YYYY-MM-DD (UTC).") var from: String = "2026-01-01"
    @Option(help: "Number of days.") var days: Int = 30
    @Option(help: "Average residential events per account-hour (fractions allowed).") var perHour: Double = 100
    @Option(help: "Average messaging events per account-hour (fractions allowed).") var messagingPerHour: Double = 10
    @Option(help: "Distinct hostnames (popularity is Zipf-like).") var hosts: Int = 1000
    @Option(help: "Random seed.") var seed: UInt64 = 42
    @Option(help: "native, cloudevents, squid or csv.") var format: String = "native"
    @Flag(help: "Leave out event ids (ids make reloading a file count nothing twice).") var noIds = false
    @Option(help: "A configuration whose accounts the names must be; each is written as its username (what Squid logs).")
    var config: String?

    func validate() throws {
        if days < 0 { throw ValidationError("--days must be 0 or more") }
        if hosts < 1 { throw ValidationError("--hosts must be 1 or more") }
        if !perHour.isFinite || perHour < 0 || !messagingPerHour.isFinite || messagingPerHour < 0 {
            throw ValidationError("--per-hour and --messaging-per-hour must be 0 or more")
        }
        if UsageLineFormat(rawValue: format) == nil {
            throw ValidationError("--format must be one of: \(UsageLineFormat.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() async throws {
        guard let start = CivilDate(iso: from) else { throw ValidationError("--from must be YYYY-MM-DD") }
        let directory = try config.map { path in
            do { return try ConfigLoader.load(path: path).accounts } catch let e as ConfigError { throw ValidationError(e.description) }
        }
        let residential = try names(accounts, in: directory), messaging = try names(messagingAccounts, in: directory)
        var traffic: [SyntheticUsage.Traffic] = []
        var products: [ProductSpec] = []
        if !residential.isEmpty && perHour > 0 {
            traffic.append(.init(.residential, accounts: residential, perHour: perHour))
            products.append(SyntheticUsage.residentialProduct)
        }
        if !messaging.isEmpty && messagingPerHour > 0 {
            traffic.append(.init(.messaging, accounts: messaging, perHour: messagingPerHour))
            products.append(SyntheticUsage.messagingProduct)
        }
        let encoder: UsageLineEncoder
        do {
            encoder = try UsageLineEncoder(format: UsageLineFormat(rawValue: format) ?? .native, products: products)
        } catch {
            throw ValidationError("--format \(format): \(error.description)")
        }
        let gen = SyntheticUsage(seed: seed, hostCount: hosts)
        let t0 = start.dayNumber * 86400
        let out = FileHandle.standardOutput
        var buffer = encoder.header()
        buffer.reserveCapacity(1 << 23)
        var count = 0
        try gen.events(traffic, from: t0, to: t0 + Int64(days) * 86400, ids: !noIds) { hour in
            for e in hour { encoder.append(e, to: &buffer) }
            count += hour.count
            if buffer.count >= 1 << 22 {
                try out.write(contentsOf: buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        try out.write(contentsOf: buffer)
        FileHandle.standardError.write(Data("generated \(count) events (\(format))\n".utf8))
    }

    /// The comma-separated account names, resolved to usernames when a configuration is given.
    func names(_ list: String, in accounts: AccountDirectory?) throws -> [String] {
        let names = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard let accounts else { return names }
        return try names.map { name in
            guard let a = accounts.resolve(name) else { throw ValidationError("no account \"\(name)\" in \(config ?? "")") }
            return a.username ?? a.id
        }
    }
}
