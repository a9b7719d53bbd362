import Hummingbird
import NIOCore
import TallyCore

/// An error of the Proxy-Seller dialect: HTTP 200 with
/// `{"status":"error","data":null,"errors":[{"message","code","customData":null}]}`, as the vendor sends.
struct ProxySellerError: DialectError {
    var errors: [(message: String, code: Int)]
    var status: HTTPResponse.Status = .ok

    /// Every access failure (bad key, IP not allowed, rate limit) gets the documented triple: clients
    /// test for it (`ApiError.isAccessError()`), and one answer tells an attacker nothing.
    static let access = ProxySellerError(errors: [("Error api key", 503), ("IP not allowed", 503), ("Request limit reached", 503)])
    /// A missing, unknown or foreign package: the seed's "list not found" triple.
    static let notFound = ProxySellerError(errors: [("key is required", 0), ("not-found", 404), ("not-found (404)", 0)])
    /// A malformed date, or `date_start` after `date_end`.
    static let incorrectDate = ProxySellerError(errors: [("Incorrect date", 0)])
    /// A `login` that is not a string (an unknown login is not an error: its data is empty).
    static let incorrectLogin = ProxySellerError(errors: [("Incorrect login", 0)])
    static let routeNotFound = ProxySellerError(errors: [("not-found", 404)], status: .notFound)
    static let unavailable = ProxySellerError(errors: [("Service temporarily unavailable, retry later", 500)])

    static func http(_ status: HTTPResponse.Status) -> ProxySellerError {
        ProxySellerError(errors: [(status.reasonPhrase, Int(status.code))], status: status)
    }

    func response(for request: Request) -> Response {
        let items = errors.map { "{\"message\":" + JSONValue.quote($0.message) + ",\"code\":\($0.code),\"customData\":null}" }
        let body = "{\"status\":\"error\",\"data\":null,\"errors\":[" + items.joined(separator: ",") + "]}"
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

