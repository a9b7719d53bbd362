import Foundation
import TallyCore
import TallyIngest
import TallyServer
import TallyStore

/// `tally serve --demo`: a demo tree, 30 days of synthetic usage, and curl lines to paste.
enum Demo {
    static let path = "tally-data/demo.db"

    static let yaml = """
    server: { host: 127.0.0.1, port: 8080 }
    storage: { kind: sqlite, path: \(path) }
    units: { byte_base: 1024 }
    ingest: { tokens: [demo-ingest-token] }
    auth: { admin_tokens: [demo-admin-token] }
    products:
      residential:
        dimensions: [hostname, port, country, status]
        metrics: { bytes: { kind: integer }, requests: { kind: integer } }
      messaging:
        dimensions: [direction, currency, message_type, country_code]
        metrics: { cost: { kind: decimal, scale: 6 }, parts: { kind: integer }, count: { kind: integer } }
    accounts:
      - id: acme
        name: Acme Proxies
        hash: 01HQ5K3P97DY8EX9Y90YT1K6XA
        username: acme
        package_key: abc123
        tokens: [demo-acme-token]
        api_keys: [demo-proxy-seller-key]
        password: demo-password
        children:
          - { id: acme-sub1, hash: 01HQ5K3P97DY8EX9Y90YT1K6XB, username: sub1, tokens: [demo-sub1-token] }
          - { id: acme-sub2, hash: 01HQ5K3P97DY8EX9Y90YT1K6XC, username: sub2 }
      - id: telco
        name: Telco Messaging
        tokens: [demo-telco-token]
        children:
          - { id: telco-eu, username: telco-eu }
    """

    static func config() throws -> TallyConfig {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        return try ConfigLoader.load(yaml: yaml)
    }

    static func load(into runtime: TallyRuntime) async throws {
        let to = floorDiv(runtime.now(), 900) * 900
        let from = to - 30 * 86400
        let gen = SyntheticUsage(seed: 2026, hostCount: 300)
        let events = gen.residential(accounts: ["acme-sub1", "acme-sub2"], from: from, to: to, perHour: 60)
            + gen.messaging(accounts: ["telco", "telco-eu"], from: from, to: to, perHour: 40)
        var i = 0
        while i < events.count {
            let chunk = Array(events[i..<min(events.count, i + 50_000)])
            _ = try await runtime.commit(chunk, idempotencyKey: nil)
            i += chunk.count
        }
    }

    static func printWelcome(_ config: TallyConfig) {
        let base = "http://\(config.server.host):\(config.server.port)"
        let today = Date()
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd"
        f.timeZone = TimeZone(identifier: "UTC")
        let to = f.string(from: today.addingTimeInterval(86400))
        let from = f.string(from: today.addingTimeInterval(-29 * 86400))
        let text = """

        Tally demo is running at \(base)  (30 days of synthetic usage; tokens below are demo tokens)

          # daily traffic of Acme's whole tree, by hostname, top first, in New York time
          curl -H 'Authorization: Bearer demo-acme-token' '\(base)/v1/usage?product=residential&from=\(from)&to=\(to)&bucket=day&tz=America/New_York&group_by=hostname&sort=-bytes&limit=10'

          # the same as CSV, per sub-user
          curl -H 'Authorization: Bearer demo-acme-token' '\(base)/v1/usage?product=residential&from=\(from)&to=\(to)&bucket=week&group_by=account&format=csv'

          # exact messaging cost by direction, monthly, in Kolkata time
          curl -H 'Authorization: Bearer demo-telco-token' '\(base)/v1/usage?product=messaging&from=\(from)&to=\(to)&bucket=month&tz=Asia/Kolkata&group_by=direction'

          # the same usage through Telnyx's usage reports and an OpenMeter meter
          curl -g -H 'Authorization: Bearer demo-telco-token' '\(base)/v2/usage_reports?product=messaging&dimensions=direction,date&metrics=cost,parts&date_range=last_7_days&managed_accounts=true&page[size]=5'
          curl -H 'Authorization: Bearer demo-telco-token' '\(base)/api/v1/meters/messaging_cost/query?from=\(from)T00:00:00Z&windowSize=DAY&windowTimeZone=Europe/Amsterdam&groupBy=subject'

          # manage accounts while it runs: a new sub-user and a token for it (shown once)
          curl -H 'Authorization: Bearer demo-admin-token' -d '{"id":"acme-sub3","parent":"acme","username":"sub3"}' \(base)/v1/admin/accounts
          curl -X POST -H 'Authorization: Bearer demo-admin-token' \(base)/v1/admin/accounts/acme-sub3/tokens

          # ingest your own event
          curl -H 'Authorization: Bearer demo-ingest-token' --data-binary '{"id":"e1","source":"me","time":"\(f.string(from: today))T10:00:00Z","account":"sub1","product":"residential","dimensions":{"hostname":"example.com","port":"443","country":"US","status":"200"},"metrics":{"bytes":2150000,"requests":3}}' \(base)/v1/events

        """
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}
