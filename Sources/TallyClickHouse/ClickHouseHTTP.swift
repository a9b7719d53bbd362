import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// A table sent along with a query (ClickHouse "external data"), so long lists such as
/// thousands of event ids travel as `RowBinary` instead of inside the SQL text.
struct ExternalTable: Sendable {
    var name: String
    /// Column list, e.g. `key String, write Int64`.
    var structure: String
    var rows: RowBinaryWriter

    init(_ name: String, _ structure: String, rows: RowBinaryWriter = RowBinaryWriter()) {
        self.name = name
        self.structure = structure
        self.rows = rows
    }
}

/// What went wrong talking to ClickHouse; the text is for the log, never for a client.
enum ClickHouseFailure: Error, CustomStringConvertible {
    /// The server answered with an error.
    case server(status: Int, code: Int?, text: String)
    /// No complete answer (refused, reset, timed out): a write may or may not have happened.
    case transport(String)

    var description: String {
        switch self {
        case .server(let status, let code, let text): "HTTP \(status), code \(code.map(String.init) ?? "?"): \(text)"
        case .transport(let text): "no answer: \(text)"
        }
    }

    /// ClickHouse's code for "a query with this id is already running".
    var isQueryStillRunning: Bool {
        if case .server(_, 216, _) = self { return true }
        return false
    }
}

/// The ClickHouse HTTP interface, with one store's credentials.
final class ClickHouseHTTP: Sendable {
    private let user: String?
    private let password: String?

    /// One pooled client for every store of the process, never shut down: a store that is
    /// dropped without `close()` (say, after `prepare` failed) then leaves nothing to clean up.
    private static let client: HTTPClient = {
        var config = HTTPClient.Configuration()
        // A refused connection fails the request at once (the store retries with its own
        // backoff and then answers `.unavailable`) instead of the pool retrying until the
        // deadline; ClickHouse closes idle keep-alive connections after 3 s (its default), so
        // the pool drops them first instead of reusing a closing one.
        config.timeout = .init(connect: .seconds(1), read: .seconds(300))
        config.connectionPool = .init(idleTimeout: .seconds(2))
        config.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }()

    init(user: String?, password: String?) {
        self.user = user
        self.password = password
    }

    /// Runs one statement on `node` (a base URL such as `http://127.0.0.1:8123`) and returns the
    /// answer's bytes. `data` is the body of an `INSERT ... FORMAT RowBinary`.
    ///
    /// Reads ask for `wait_end_of_query=1`, so an error found while producing the answer comes
    /// as an HTTP error instead of a 200 whose body ends in an error text.
    func execute(
        node: String, _ sql: String, database: String? = nil, settings: [(String, String)] = [],
        external: [ExternalTable] = [], data: [UInt8]? = nil, queryID: String? = nil, timeout: TimeAmount = .seconds(120)
    ) async throws(ClickHouseFailure) -> [UInt8] {
        var params: [(String, String)] = []
        if let database { params.append(("database", database)) }
        if let queryID { params.append(("query_id", queryID)) }
        if data == nil { params.append(("wait_end_of_query", "1")) }
        params += settings
        var request = HTTPClientRequest(url: node)
        request.method = .POST
        if let user { request.setBasicAuth(username: user, password: password ?? "") }
        if data != nil || !external.isEmpty {
            params.append(("query", sql))
        }
        if let data {
            request.body = .bytes(data)
        } else if !external.isEmpty {
            let boundary = "tally-\(UInt64.random(in: 0...UInt64.max))"
            var body: [UInt8] = []
            for t in external {
                params.append(("\(t.name)_structure", t.structure))
                params.append(("\(t.name)_format", "RowBinary"))
                body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(t.name)\"; filename=\"\(t.name)\"\r\nContent-Type: application/octet-stream\r\n\r\n".utf8)
                body += t.rows.bytes
                body += Array("\r\n".utf8)
            }
            body += Array("--\(boundary)--\r\n".utf8)
            request.headers.add(name: "Content-Type", value: "multipart/form-data; boundary=\(boundary)")
            request.body = .bytes(body)
        } else {
            request.body = .bytes(Array(sql.utf8))
        }
        request.url = node + "/?" + params.map { "\(percentEncoded($0.0))=\(percentEncoded($0.1))" }.joined(separator: "&")
        do {
            let response = try await Self.client.execute(request, timeout: timeout)
            let buffer = try await response.body.collect(upTo: 1 << 30)
            let bytes = Array(buffer.readableBytesView)
            guard response.status == .ok else {
                let text = String(decoding: bytes.prefix(2_000), as: UTF8.self)
                throw ClickHouseFailure.server(status: Int(response.status.code), code: errorCode(text), text: text)
            }
            return bytes
        } catch let failure as ClickHouseFailure {
            throw failure
        } catch {
            throw .transport(String(describing: error))
        }
    }
}

/// The `Code: N` ClickHouse puts at the start of an error text.
func errorCode(_ text: String) -> Int? {
    guard let r = text.range(of: "Code: ") else { return nil }
    return Int(text[r.upperBound...].prefix { $0.isNumber })
}

/// Percent-encodes every byte but the URL-unreserved ones, so any SQL survives a query string.
func percentEncoded(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.utf8.count)
    for b in s.utf8 {
        switch b {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
            out.unicodeScalars.append(Unicode.Scalar(b))
        default:
            let hex = Array("0123456789ABCDEF".utf8)
            out += String(decoding: [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 15)]], as: UTF8.self)
        }
    }
    return out
}
