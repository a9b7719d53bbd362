import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import TallyCore
@testable import TallyServer

// The vendor dialects in the authorization matrix (AuthorizationMatrixTests runs them), and the
// endpoints that take no identifier at all: those may only ever show the caller's own subtree.

/// A Proxy-Seller details call with the caller's key in the path.
func proxySellerDetails(_ s: MatrixSession, version: String, body: String) async throws -> TestResponse {
    try await s.client.execute(uri: "/personal/api/\(version)/\(s.apiKey)/resident/traffic/details", method: .post,
                               headers: [.contentType: "application/json"], body: ByteBuffer(string: body))
}

/// A Proxy-Seller answer that holds traffic (not the error triple, not `"data":[]`).
func proxySellerServed(_ r: TestResponse) -> Bool {
    r.status == .ok && r.text.hasPrefix(#"{"status":"success","data":{"#)
}

let dialectMatrixEndpoints: [MatrixEndpoint] = {
    var out: [MatrixEndpoint] = []
    let credentials: [(String, @Sendable (MatrixSession) -> String)] = [("token", { $0.token }), ("login JWT", { $0.jwt })]
    for (label, credential) in credentials {
        out.append(MatrixEndpoint(name: "IPRoyal GET /v1/residential/data-usage-report (\(label))", kinds: [.hash], call: { s, target in
            try await s.client.execute(uri: "/v1/residential/data-usage-report?hash=\(target)&date_from=2026-01-01&date_to=2026-01-01&measurement_unit=B&rounding_decimal=0",
                                       method: .get, headers: bearer(credential(s)))
        }, served: { $0.status == .ok }))
        for path in ["stats/traffic", "stats/traffic/history", "stats/requests/history"] {
            out.append(MatrixEndpoint(name: "GoProxies GET /api/v1/\(path) (\(label))", kinds: [.username], call: { s, target in
                try await s.client.execute(uri: "/api/v1/\(path)?username=\(target)&start_at=2026-01-01&end_at=2026-01-01", method: .get, headers: bearer(credential(s)))
            }, served: { $0.status == .ok }))
        }
        out.append(MatrixEndpoint(name: "OpenMeter GET /api/v1/meters/{slug}/query (\(label))", kinds: [.id, .hash, .username], call: { s, target in
            try await s.client.execute(uri: "/api/v1/meters/residential_bytes/query?subject=\(target)&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&groupBy=hostname",
                                       method: .get, headers: bearer(credential(s)))
        }, served: { $0.status == .ok && !$0.text.contains(#""data":[]"#) }))
    }
    for version in ProxySellerController.versions.sorted() {
        out.append(MatrixEndpoint(name: "Proxy-Seller \(version) traffic/details (packageKey)", kinds: [.packageKey], call: { s, target in
            try await proxySellerDetails(s, version: version, body: #"{"packageKey":"\#(target)"}"#)
        }, served: proxySellerServed))
        out.append(MatrixEndpoint(name: "Proxy-Seller \(version) traffic/details (key)", kinds: [.packageKey], call: { s, target in
            try await proxySellerDetails(s, version: version, body: #"{"key":"\#(target)","date_start":"01.01.2026","date_end":"01.01.2026"}"#)
        }, served: proxySellerServed))
        out.append(MatrixEndpoint(name: "Proxy-Seller \(version) traffic/details (login in own package)", kinds: [.username], call: { s, target in
            try await proxySellerDetails(s, version: version, body: #"{"packageKey":"pkg-customer","login":"\#(target)"}"#)
        }, served: proxySellerServed))
    }
    return out
}()

@Suite struct DialectMatrixTests {
    /// One call that names no account: the caller's credential alone decides what it sees.
    struct Call: CustomTestStringConvertible, Sendable {
        let name: String
        let method: HTTPRequest.Method
        let uri: String
        /// Marker usage of these accounts must show (the caller's subtree, as this call scopes it).
        let shows: [String]
        /// The kind of marker the call renders.
        let marker: @Sendable (String) -> String
        var testDescription: String { name }
    }

    static let subtree = ["acct-customer", "acct-subuser", "acct-disabled"]
    static let telnyxRange = "start_date=2026-01-01T00:00:00Z&end_date=2026-01-02T00:00:00Z"
    static let messageType: @Sendable (String) -> String = { matrixMarker($0).messageType }
    static let host: @Sendable (String) -> String = { matrixMarker($0).host }
    static let countryJSON: @Sendable (String) -> String = { "\"\(matrixMarker($0).country)\"" }

    static let calls: [Call] = [
        Call(name: "Telnyx usage_reports (own account)", method: .get,
             uri: "/v2/usage_reports?product=messaging&dimensions=message_type&metrics=cost&\(telnyxRange)", shows: ["acct-customer"], marker: messageType),
        Call(name: "Telnyx usage_reports (managed accounts)", method: .get,
             uri: "/v2/usage_reports?product=messaging&dimensions=message_type&metrics=cost,parts&managed_accounts=true&\(telnyxRange)", shows: subtree, marker: messageType),
        Call(name: "Telnyx usage_reports (managed accounts, csv)", method: .get,
             uri: "/v2/usage_reports?product=messaging&dimensions=message_type,date&metrics=cost&managed_accounts=true&format=csv&\(telnyxRange)", shows: subtree, marker: messageType),
        Call(name: "Telnyx usage_reports/options", method: .get, uri: "/v2/usage_reports/options", shows: [], marker: messageType),
        Call(name: "OpenMeter meters", method: .get, uri: "/api/v1/meters", shows: [], marker: host),
        Call(name: "OpenMeter meter", method: .get, uri: "/api/v1/meters/messaging_cost", shows: [], marker: host),
        Call(name: "OpenMeter query (no subject)", method: .get,
             uri: "/api/v1/meters/residential_bytes/query?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&groupBy=hostname&groupBy=subject", shows: subtree, marker: host),
        Call(name: "GoProxies stats/countries", method: .get, uri: "/api/v1/stats/countries", shows: subtree, marker: countryJSON),
        Call(name: "GoProxies stats/traffic (no username)", method: .get, uri: "/api/v1/stats/traffic?start_at=2026-01-01&end_at=2026-01-01", shows: [], marker: host),
        Call(name: "native usage (no account)", method: .get,
             uri: "/v1/usage?product=messaging&from=2026-01-01&to=2026-01-02&bucket=total&group_by=message_type,account", shows: subtree, marker: messageType),
    ]

    /// Served to the caller: its subtree's markers, and nothing of any account outside it.
    @Test(arguments: calls)
    func showsOnlyTheSubtree(_ c: Call) async throws {
        try await withMatrixApp { s in
            for credential in [s.token, s.jwt] {
                let r = try await s.client.execute(uri: c.uri, method: c.method, headers: bearer(credential))
                #expect(r.status == .ok, "\(r.text)")
                let text = visibleText(r)
                for a in c.shows { #expect(text.contains(c.marker(a)), "\(a) is missing: \(r.text)") }
                for trace in foreignTraces(except: "") + ["acct-reseller", "acct-sibling", "acct-othertenant"] {
                    #expect(!text.contains(trace), "\(trace) leaked in \(text)")
                }
                for a in ["acct-reseller", "acct-sibling", "acct-othertenant"] where c.marker(a) != c.marker("acct-customer") {
                    #expect(!text.contains(c.marker(a)), "\(a)'s data leaked in \(text)")
                }
            }
        }
    }

    /// A disabled account's credential and an unknown one get the very same answer.
    @Test(arguments: calls)
    func disabledAndUnknownCredentialsAreRefusedAlike(_ c: Call) async throws {
        try await withMatrixApp { s in
            let unknown = try await s.client.execute(uri: c.uri, method: c.method, headers: bearer("tok-nobody-0001"))
            let disabled = try await s.client.execute(uri: c.uri, method: c.method, headers: bearer("tok-disabled-0001"))
            #expect(unknown.status == .unauthorized)
            #expect(refusalShape(disabled, naming: "tok-disabled-0001") == refusalShape(unknown, naming: "tok-nobody-0001"))
            #expect(!visibleText(disabled).contains("disabled"), "\(disabled.text)")
        }
    }

    /// Proxy-Seller over a real socket with IP allow-lists: the caller's key, allowed on loopback,
    /// passes the whole matrix (an `X-Forwarded-For` from an untrusted peer changes nothing); a
    /// sibling's valid key, allowed only elsewhere, gets the unknown key's very answer.
    @Test func proxySellerMatrixWithAllowListsOverASocket() async throws {
        let allowLists: (String) -> String = {
            $0.replacingOccurrences(of: "password: pw-customer-secret", with: #"password: pw-customer-secret, allowed_ips: [127.0.0.1/32, "::1/128"]"#)
                .replacingOccurrences(of: "password: pw-sibling-secret", with: "password: pw-sibling-secret, allowed_ips: [10.9.0.0/16]")
        }
        try await withMatrixApp(yaml: allowLists, live: true) { s in
            for endpoint in dialectMatrixEndpoints where endpoint.name.hasPrefix("Proxy-Seller") {
                for kind in endpoint.kinds { try await AuthorizationMatrixTests.checkRelations(endpoint, kind, s) }
            }
            let body = ByteBuffer(string: #"{"packageKey":"pkg-sibling"}"#)
            let spoofed: HTTPFields = [HTTPField.Name("X-Forwarded-For")!: "10.9.1.1"]
            let sibling = try await s.client.execute(uri: "/personal/api/v1/key-sibling-000000001/resident/traffic/details", method: .post, headers: spoofed, body: body)
            let unknown = try await s.client.execute(uri: "/personal/api/v1/key-nobody-000000001/resident/traffic/details", method: .post, headers: spoofed, body: body)
            #expect(sibling.text.contains("IP not allowed") && sibling.text == unknown.text && sibling.status == unknown.status)
            let own = try await s.client.execute(uri: "/personal/api/v1/\(s.apiKey)/resident/traffic/details", method: .post, headers: spoofed,
                                                 body: ByteBuffer(string: #"{"packageKey":"pkg-customer"}"#))
            #expect(proxySellerServed(own), "\(own.text)")
        }
    }

    /// Proxy-Seller: a disabled account's key, and an unknown key, get the same access triple.
    @Test(arguments: ProxySellerController.versions.sorted())
    func proxySellerKeysOfDisabledAndUnknownAccountsAreRefusedAlike(_ version: String) async throws {
        try await withMatrixApp { s in
            let body = ByteBuffer(string: #"{"packageKey":"pkg-disabled"}"#)
            let unknown = try await s.client.execute(uri: "/personal/api/\(version)/key-nobody-000000001/resident/traffic/details", method: .post, body: body)
            let disabled = try await s.client.execute(uri: "/personal/api/\(version)/key-disabled-000000001/resident/traffic/details", method: .post, body: body)
            #expect(unknown.text.contains("Error api key"))
            #expect(disabled.status == unknown.status && disabled.text == unknown.text && disabled.headers[.contentType] == unknown.headers[.contentType])
        }
    }
}
