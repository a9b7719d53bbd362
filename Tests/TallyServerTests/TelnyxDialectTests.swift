import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import TallyCore
@testable import TallyServer

/// `GET /v2/usage_reports` and `/options`, checked against an oracle over the raw events.
@Suite struct TelnyxDialectTests {
    static let may1 = RFC3339.parse("2026-05-01T00:00:00Z")!
    static let events = RawMessage.generate(seed: 42, count: 600, start: may1, days: 6, accounts: ["acme", "acme-sub1", "acme-sub2", "other"])

    /// Every row of a JSON report, walking the pages as the official client does.
    static func allPages(_ client: some TestClientProtocol, _ query: String, token: String = "acme-token-1") async throws -> (rows: [[String: String]], pages: Int) {
        var rows: [[String: String]] = []
        var page = 1
        while true {
            let r = try await client.execute(uri: "/v2/usage_reports?\(query)&page%5Bnumber%5D=\(page)", method: .get, headers: bearer(token))
            #expect(r.status == .ok, "\(r.text)")
            let json = try #require(r.json)
            rows += json["data"]!.items.map(\.textFields)
            let meta = json["meta"]!
            #expect(meta["page_number"]?.int == page)
            guard let total = meta["total_pages"]?.int, page < total else { return (rows, page) }
            page += 1
        }
    }

    /// Rows with decimal text normalized so `0.0008` and `0.000800` compare equal.
    static func normalized(_ rows: [[String: String]]) -> [[String: String]] {
        rows.map { $0.mapValues(naturalDecimal) }
    }

    static func sorted(_ rows: [[String: String]], by keys: [String]) -> [[String: String]] {
        rows.sorted { a, b in keys.map { a[$0] ?? "" }.lexicographicallyPrecedes(keys.map { b[$0] ?? "" }) }
    }

    @Test func jsonRowsMatchTheRawEventsAcrossPages() async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            try await ingest(Self.events.map(\.ndjson), client)
            let (rows, pages) = try await Self.allPages(client, "product=messaging&dimensions=direction%2Cdate&metrics=cost%2Cparts&start_date=2026-05-01T00:00:00Z&end_date=2026-05-05T00:00:00Z&page%5Bsize%5D=3")
            #expect(pages > 2)
            let expected = telnyxOracle(Self.events, accounts: ["acme"], from: Self.may1, to: Self.may1 + 4 * 86400, dimensions: ["direction", "date"], perAccount: false)
            // Default order: by the dimensions ascending, in the order they were asked for.
            #expect(Self.normalized(rows) == Self.normalized(Self.sorted(expected, by: ["direction", "date"])))
            #expect(rows.allSatisfy { $0["user_id"] == nil && $0["product"] == "messaging" })
        }
    }

    @Test func managedAccountsCoverTheWholeSubtreeWithUserID() async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            try await ingest(Self.events.map(\.ndjson), client)
            let (rows, _) = try await Self.allPages(client, "product=messaging&dimensions=message_type&metrics=cost,parts&start_date=2026-05-01T00:00:00-00:00&end_date=2026-05-07T00:00:00%2B00:00&managed_accounts=true&page[size]=5000")
            let expected = telnyxOracle(Self.events, accounts: ["acme", "acme-sub1", "acme-sub2"], from: Self.may1, to: Self.may1 + 6 * 86400, dimensions: ["message_type"], perAccount: true)
            #expect(Self.normalized(Self.sorted(rows, by: ["user_id", "message_type"])) == Self.normalized(Self.sorted(expected, by: ["user_id", "message_type"])))
            #expect(Set(rows.compactMap { $0["user_id"] }) == ["acme", "acme-sub1", "acme-sub2"])
            // A sub-account's managed subtree is itself alone.
            let (sub, _) = try await Self.allPages(client, "product=messaging&dimensions=message_type&metrics=cost,parts&start_date=2026-05-01T00:00:00Z&end_date=2026-05-07T00:00:00Z&managed_accounts=true", token: "sub1-token")
            #expect(Set(sub.compactMap { $0["user_id"] }) == ["acme-sub1"])
        }
    }

    @Test func everyFilterFormSelectsTheSameRows() async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            try await ingest(Self.events.map(\.ndjson), client)
            let base = "product=messaging&dimensions=direction,country_code&metrics=cost,parts&start_date=2026-05-01T00:00:00Z&end_date=2026-05-07T00:00:00Z&managed_accounts=true&page[size]=5000"
            let expected = Self.normalized(Self.sorted(telnyxOracle(Self.events, accounts: ["acme", "acme-sub1", "acme-sub2"], from: Self.may1, to: Self.may1 + 6 * 86400,
                                                                   dimensions: ["direction", "country_code"], filters: ["direction": ["outbound"], "country_code": ["US", "NL"]], perAccount: true),
                                                       by: ["user_id", "direction", "country_code"]))
            #expect(!expected.isEmpty)
            for filter in [
                "filter%5Bdirection%5D=outbound&filter%5Bcountry_code%5D=US%2CNL",
                "filter[direction]=outbound&filter[country_code]=US&filter[country_code]=NL",
                "filter=filter%5Bdirection%5D%3Doutbound&filter=filter%5Bcountry_code%5D%3DUS%2CNL",
                "filter=filter%5Bdirection%5D%3Doutbound%26filter%5Bcountry_code%5D%3DUS%2CNL",
            ] {
                let (rows, _) = try await Self.allPages(client, base + "&" + filter)
                #expect(Self.normalized(Self.sorted(rows, by: ["user_id", "direction", "country_code"])) == expected, "\(filter)")
            }
        }
    }

    @Test func sortKeysOrderRowsAndUnknownKeysAreIgnored() async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            try await ingest(Self.events.map(\.ndjson), client)
            let (rows, _) = try await Self.allPages(client, "product=messaging&dimensions=date_time&metrics=cost,parts&start_date=2026-05-01T00:00:00Z&end_date=2026-05-07T00:00:00Z&managed_accounts=true&sort=-parts,created_at,user_id&page[size]=50")
            let expected = telnyxOracle(Self.events, accounts: ["acme", "acme-sub1", "acme-sub2"], from: Self.may1, to: Self.may1 + 6 * 86400, dimensions: ["date_time"], perAccount: true)
            #expect(rows.count == expected.count)
            let keys = rows.map { (-Int($0["parts"]!)!, $0["user_id"]!, $0["date_time"]!) }
            #expect(zip(keys, keys.dropFirst()).allSatisfy { a, b in a.0 != b.0 ? a.0 < b.0 : a.1 != b.1 ? a.1 < b.1 : a.2 <= b.2 })
            #expect(rows.allSatisfy { $0["date_time"]!.hasSuffix(":00:00Z") && $0["date_time"]!.count == 20 })
        }
    }

    @Test func csvHasEveryRowSixDecimalsAndUserID() async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            let events = [
                RawMessage(time: Self.may1 + 3600, account: "acme", direction: "inbound", country: "US", type: "SMS", costMicros: 800, parts: 17),
                RawMessage(time: Self.may1 + 7200, account: "acme", direction: "inbound", country: "US", type: "SMS", costMicros: 1, parts: 1),
                RawMessage(time: Self.may1 + 7200, account: "acme-sub1", direction: "outbound", country: "DE", type: "SMS", costMicros: 1_234_567, parts: 2),
            ]
            try await ingest(events.map(\.ndjson), client)
            let r = try await client.execute(uri: "/v2/usage_reports?product=messaging&dimensions=direction&metrics=cost,parts&start_date=2026-05-01T00:00:00Z&end_date=2026-05-02T00:00:00Z&format=csv&page[size]=1", method: .get, headers: bearer("acme-token-1"))
            #expect(r.status == .ok)
            #expect(r.headers[.contentType]?.hasPrefix("text/csv") == true)
            #expect(r.text == "user_id,direction,product,cost,parts\nacme,inbound,messaging,0.000801,18.000000\n")
            let managed = try await client.execute(uri: "/v2/usage_reports?product=messaging&dimensions=direction&metrics=cost&start_date=2026-05-01T00:00:00Z&end_date=2026-05-02T00:00:00Z&format=csv&managed_accounts=true", method: .get, headers: bearer("acme-token-1"))
            #expect(managed.text == "user_id,direction,product,cost\nacme,inbound,messaging,0.000801\nacme-sub1,outbound,messaging,1.234567\n")
            let json = try await client.execute(uri: "/v2/usage_reports?product=messaging&dimensions=direction&metrics=cost,parts&start_date=2026-05-01T00:00:00Z&end_date=2026-05-02T00:00:00Z", method: .get, headers: bearer("acme-token-1"))
            #expect(json.text == "{\"data\":[{\"direction\":\"inbound\",\"product\":\"messaging\",\"cost\":0.000801,\"parts\":18}],\"meta\":{\"total_pages\":1,\"total_results\":1,\"page_number\":1,\"page_size\":20}}")
        }
    }

    @Test func emptyResultAndPagesPastTheEnd() async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            let r = try await client.execute(uri: "/v2/usage_reports?product=residential&dimensions=hostname&metrics=bytes", method: .get, headers: bearer("acme-token-1"))
            #expect(r.text == "{\"data\":[],\"meta\":{\"total_pages\":0,\"total_results\":0,\"page_number\":1,\"page_size\":20}}")
            try await ingest(Self.events.map(\.ndjson), client)
            let past = try await client.execute(uri: "/v2/usage_reports?product=messaging&dimensions=date&metrics=count&start_date=2026-05-01T00:00:00Z&end_date=2026-05-07T00:00:00Z&page[number]=9&page[size]=5000", method: .get, headers: bearer("acme-token-1"))
            #expect(past.text == "{\"data\":[],\"meta\":{\"total_pages\":1,\"total_results\":6,\"page_number\":9,\"page_size\":5000}}")
        }
    }

    @Test func optionsComeFromTheCatalog() async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            let one = try await client.execute(uri: "/v2/usage_reports/options?product=messaging", method: .get, headers: bearer("acme-token-1"))
            #expect(one.text == "{\"data\":[{\"product\":\"messaging\",\"product_dimensions\":[\"direction\",\"currency\",\"message_type\",\"country_code\",\"date\",\"date_time\"],\"product_metrics\":[\"cost\",\"parts\",\"count\"],\"record_types\":null}]}")
            let all = try await client.execute(uri: "/v2/usage_reports/options", method: .get, headers: bearer("acme-token-1"))
            #expect(all.json?["data"]?.items.compactMap { $0["product"]?.string } == ["residential", "messaging"])
            let bad = try await client.execute(uri: "/v2/usage_reports/options?product=wireless", method: .get, headers: bearer("acme-token-1"))
            #expect(bad.status == .badRequest)
            #expect(bad.json?["errors"]?.items.first?["detail"]?.string == "Available product values: residential,messaging")
            let anonymous = try await client.execute(uri: "/v2/usage_reports/options", method: .get)
            #expect(anonymous.status == .unauthorized)
        }
    }

    /// A bad request, and the `(code, source.parameter)` of every error it must get.
    struct BadRequest: Sendable, CustomStringConvertible {
        var query: String
        var errors: [String]
        var description: String { query }
    }

    static let base = "product=messaging&dimensions=direction&metrics=cost"
    static let badRequests: [BadRequest] = [
        .init(query: "dimensions=direction&metrics=cost", errors: ["product"]),
        .init(query: "product=wireless&dimensions=direction&metrics=cost", errors: ["product"]),
        .init(query: "product=messaging&dimensions=nope&metrics=cost", errors: ["dimensions"]),
        .init(query: "product=messaging&metrics=cost", errors: ["dimensions"]),
        .init(query: "product=messaging&dimensions=direction&metrics=bytes", errors: ["metrics"]),
        .init(query: "product=messaging&dimensions=direction", errors: ["metrics"]),
        .init(query: "product=messaging&dimensions=hostname&metrics=bytes", errors: ["dimensions", "metrics"]),
        .init(query: base + "&start_date=2026-05-01T00:00:00Z&end_date=2026-06-02T00:00:00Z", errors: ["end_date"]),
        .init(query: base + "&start_date=2026-05-02T00:00:00Z&end_date=2026-05-01T00:00:00Z", errors: ["end_date"]),
        .init(query: base + "&start_date=yesterday", errors: ["start_date"]),
        .init(query: base + "&end_date=2026-13-01T00:00:00Z", errors: ["end_date"]),
        .init(query: base + "&start_date=2026-05-01T00:07:00Z&end_date=2026-05-02T00:00:00Z", errors: ["start_date"]),
        .init(query: base + "&date_range=fortnight", errors: ["date_range"]),
        .init(query: base + "&date_range=last_0_days", errors: ["date_range"]),
        .init(query: base + "&date_range=last_31_days", errors: ["date_range"]),
        .init(query: base + "&date_range=last_5_weeks", errors: ["date_range"]),
        .init(query: base + "&page%5Bsize%5D=5001", errors: ["page[size]"]),
        .init(query: base + "&page[size]=0", errors: ["page[size]"]),
        .init(query: base + "&page[number]=0", errors: ["page[number]"]),
        .init(query: base + "&page[number]=two", errors: ["page[number]"]),
        .init(query: base + "&page[number]=99999999999999999999", errors: ["page[number]"]),
        .init(query: base + "&format=xml", errors: ["format"]),
        .init(query: base + "&managed_accounts=maybe", errors: ["managed_accounts"]),
        .init(query: base + "&filter[country_code]=US", errors: ["filter"]),
        .init(query: base + "&filter[hostname]=x", errors: ["filter"]),
        .init(query: base + "&filter[date]=2026-05-01", errors: ["filter"]),
        .init(query: base + "&filter=country_code%3DUS", errors: ["filter"]),
        .init(query: "product=messaging&dimensions=nope&metrics=nope&format=pdf&page[size]=-1", errors: ["page[size]", "format", "dimensions", "metrics"]),
        .init(query: "product=%FF%FE&dimensions=%00&metrics=cost", errors: ["product"]),
    ]

    @Test(arguments: badRequests) func everyBadParameterGetsItsError(_ bad: BadRequest) async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            let r = try await client.execute(uri: "/v2/usage_reports?" + bad.query, method: .get, headers: bearer("acme-token-1"))
            #expect(r.status == .badRequest, "\(r.text)")
            let errors = r.json?["errors"]?.items ?? []
            #expect(Set(errors.compactMap { $0["source"]?["parameter"]?.string }) == Set(bad.errors), "\(r.text)")
            #expect(errors.count == bad.errors.count, "\(r.text)")
            #expect(errors.allSatisfy { $0["code"]?.string == "10003" && $0["title"]?.string?.isEmpty == false
                && $0["meta"]?["url"]?.string == "https://developers.telnyx.com/docs/overview/errors/10003" })
        }
    }

    @Test func errorDetailsNameTheAlternatives() async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            let r = try await client.execute(uri: "/v2/usage_reports?product=messaging&dimensions=hostname&metrics=bytes", method: .get, headers: bearer("acme-token-1"))
            let errors = r.json?["errors"]?.items ?? []
            #expect(errors.map { $0["title"]?.string } == ["Dimensions invalid values", "Metrics invalid values"])
            #expect(errors[1]["detail"]?.string == "Invalid values: bytes. Available metrics values for messaging: cost,parts,count")
            #expect(errors[0]["detail"]?.string?.hasSuffix("Available dimensions values for messaging: direction,currency,message_type,country_code,date,date_time") == true)
        }
    }

    @Test(arguments: [nil, "Bearer nope", "Bearer ingest-secret", "Basic YWNtZTpzM2NyZXQ="])
    func badCredentialsGet10009(_ authorization: String?) async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            var h: HTTPFields = [:]
            if let authorization { h[.authorization] = authorization }
            let r = try await client.execute(uri: "/v2/usage_reports?" + Self.base, method: .get, headers: h)
            #expect(r.status == .unauthorized)
            #expect(r.json?["errors"]?.items.first?["code"]?.string == "10009")
            #expect(r.json?["errors"]?.items.first?["title"]?.string == "Authentication failed")
        }
    }

    @Test func rateLimitAnswers10011WithHeaders() async throws {
        let app = buildApplication(runtime: try await makeRuntime(extraYAML: "auth: { rate_limits: { telnyx: { limit: 2, window: 1h } } }"))
        try await app.test(.router) { client in
            #expect(try await client.execute(uri: "/v2/usage_reports/options", method: .get, headers: bearer("acme-token-1")).status == .ok)
            #expect(try await client.execute(uri: "/v2/usage_reports?" + Self.base, method: .get, headers: bearer("acme-token-1")).status == .ok)
            let r = try await client.execute(uri: "/v2/usage_reports?" + Self.base, method: .get, headers: bearer("acme-token-1"))
            #expect(r.status == .tooManyRequests)
            #expect(r.json?["errors"]?.items.first?["code"]?.string == "10011")
            #expect(r.json?["errors"]?.items.first?["title"]?.string == "Too many requests")
            #expect(r.headers[HTTPField.Name("x-ratelimit-limit")!] == "2")
            #expect(r.headers[HTTPField.Name("x-ratelimit-remaining")!] == "0")
            #expect(r.headers[HTTPField.Name("x-ratelimit-reset")!] == String(fixedNow + 3600))
            #expect(try await client.execute(uri: "/v2/usage_reports?" + Self.base, method: .get, headers: bearer("sub1-token")).status == .ok)
        }
    }

    @Test func authorizationBearerHeaderIsIgnored() async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            var h = bearer("acme-token-1")
            h[HTTPField.Name("authorization_bearer")!] = "whatever"
            let r = try await client.execute(uri: "/v2/usage_reports?" + Self.base, method: .get, headers: h)
            #expect(r.status == .ok)
        }
    }

    /// `(keyword, first day, day after the last)` at the fixed clock, Monday 2026-06-01.
    static let keywords: [(String, String, String)] = [
        ("today", "2026-06-01", "2026-06-02"), ("yesterday", "2026-05-31", "2026-06-01"),
        ("this_week", "2026-06-01", "2026-06-08"), ("last_week", "2026-05-25", "2026-06-01"),
        ("this_month", "2026-06-01", "2026-07-01"), ("last_month", "2026-05-01", "2026-06-01"),
        ("last_3_days", "2026-05-29", "2026-06-02"), ("last_2_weeks", "2026-05-18", "2026-06-02"),
    ]

    @Test(arguments: keywords) func dateRangeKeywords(_ k: (String, String, String)) throws {
        let (from, to) = try #require(TelnyxController.Usage.keywordRange(k.0, today: fixedNow))
        #expect(RFC3339.format(from, offset: 0) == k.1 + "T00:00:00Z")
        #expect(RFC3339.format(to, offset: 0) == k.2 + "T00:00:00Z")
    }

    @Test func dateRangeWinsOverStartAndEndAndTodayIsTheDefault() async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            let may31 = RFC3339.parse("2026-05-31T00:00:00Z")!
            let events = [
                RawMessage(time: may31 + 60, account: "acme", direction: "inbound", country: "US", type: "SMS", costMicros: 5, parts: 1),
                RawMessage(time: fixedNow - 60, account: "acme", direction: "inbound", country: "US", type: "SMS", costMicros: 7, parts: 1),
            ]
            try await ingest(events.map(\.ndjson), client)
            let q = "product=messaging&dimensions=date&metrics=cost"
            let yesterday = try await client.execute(uri: "/v2/usage_reports?\(q)&date_range=yesterday&start_date=2026-01-01T00:00:00Z&end_date=2026-01-02T00:00:00Z", method: .get, headers: bearer("acme-token-1"))
            #expect(yesterday.json?["data"]?.items.map(\.textFields) == [["date": "2026-05-31", "product": "messaging", "cost": "0.000012"]])
            let today = try await client.execute(uri: "/v2/usage_reports?\(q)", method: .get, headers: bearer("acme-token-1"))
            #expect(today.json?["data"]?.items.isEmpty == true)
            let week = try await client.execute(uri: "/v2/usage_reports?\(q)&date_range=last_1_weeks", method: .get, headers: bearer("acme-token-1"))
            #expect(week.json?["data"]?.items.count == 1)
        }
    }

    /// A million messaging events with decimal costs sum exactly: the report equals the integer
    /// sum of the costs written as text, where a binary-float sum of the same values cannot.
    @Test func aMillionDecimalCostsSumExactly() async throws {
        let runtime = try await makeRuntime()
        let spec = runtime.config.products["messaging"]!
        var r = SeededRandom(seed: 2026)
        var exact: [String: (cost: Int64, parts: Int64, count: Int64)] = [:]
        var floatSum = 0.0
        let total = 1_000_000
        var made = 0
        while made < total {
            var batch: [UsageEvent] = []
            batch.reserveCapacity(50_000)
            for _ in 0..<min(50_000, total - made) {
                // Costs up to 99999.999999, parsed from text like ingest does: the total needs 17 significant
                // digits, more than a binary double holds, so no float pipeline can print it right.
                let micros = r.below(Int64(100_000_000_000))
                let text = RawMessage.decimal(micros)
                guard case .success(let cost) = Exact.parse(text, scale: 6) else { Issue.record("unparsable \(text)"); return }
                let direction = r.below(3) == 0 ? "inbound" : "outbound"
                let parts = Int64(1 + r.below(6))
                floatSum += Double(text)!
                exact[direction, default: (0, 0, 0)].cost += micros
                exact[direction, default: (0, 0, 0)].parts += parts
                exact[direction, default: (0, 0, 0)].count += 1
                batch.append(UsageEvent(time: fixedNow - 86400 + Int64(r.below(86_000)), account: "acme-sub2", product: spec.name,
                                        dimensions: [direction, "USD", "SMS", "US"], metrics: [cost, parts, 1]))
            }
            _ = try await runtime.commit(batch, idempotencyKey: nil)
            made += batch.count
        }
        let app = buildApplication(runtime: runtime)
        let sums = exact
        try await app.test(.router) { client in
            let res = try await client.execute(uri: "/v2/usage_reports?product=messaging&dimensions=direction&metrics=cost,parts,count&date_range=yesterday&managed_accounts=true&format=csv", method: .get, headers: bearer("acme-token-1"))
            let expected = "user_id,direction,product,cost,parts,count\n" + ["inbound", "outbound"].map { d in
                let e = sums[d]!
                return "acme-sub2,\(d),messaging,\(RawMessage.decimal(e.cost)),\(e.parts).000000,\(e.count).000000\n"
            }.joined()
            #expect(res.text == expected)
            let json = try await client.execute(uri: "/v2/usage_reports?product=messaging&dimensions=&metrics=cost&date_range=yesterday&managed_accounts=true", method: .get, headers: bearer("acme-token-1"))
            let totalMicros = sums.values.reduce(0) { $0 + $1.cost }
            #expect(json.json?["data"]?.items.first?["cost"] == .number(naturalDecimal(RawMessage.decimal(totalMicros))))
            #expect(sums.values.reduce(0) { $0 + $1.count } == Int64(total))
        }
        // The same values summed as binary floats do not give the exact total: the check above could fail.
        let totalMicros = exact.values.reduce(0) { $0 + $1.cost }
        #expect(String(format: "%.6f", floatSum) != RawMessage.decimal(totalMicros))
    }
}
