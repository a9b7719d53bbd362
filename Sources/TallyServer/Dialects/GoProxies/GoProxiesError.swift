import Hummingbird
import NIOCore
import TallyCore

/// An error of the GoProxies dialect:
/// `{"error":{"code","message","detail","fields":{"<param>":{"code","message"}}},"status":N,"path":"/api/v1/..."}`.
struct GoProxiesError: DialectError {
    var status: HTTPResponse.Status
    var code: String
    var message: String
    var detail: String
    /// Parameter → (code, message), in the order found.
    var fields: [(parameter: String, code: String, message: String)] = []
    var headers: HTTPFields = [:]

    static let unauthenticated = GoProxiesError(status: .unauthorized, code: "unauthenticated", message: "unauthenticated",
                                                detail: "a valid bearer token is required; get one from POST /api/v1/login")
    static let badCredentials = GoProxiesError(status: .unauthorized, code: "unauthenticated", message: "invalid credentials",
                                               detail: "the username or password is wrong")
    /// Unknown and foreign usernames get this same answer, so existence never leaks.
    static let userNotFound = GoProxiesError(status: .notFound, code: "not_found", message: "user not found", detail: "no such sub-user")
    static let routeNotFound = GoProxiesError(status: .notFound, code: "not_found", message: "not found", detail: "no such route")
    static let unavailable = GoProxiesError(status: .serviceUnavailable, code: "unavailable", message: "service unavailable",
                                            detail: "the statistics could not be computed right now; retry later")

    static func tooManyRequests(_ decision: RateDecision) -> GoProxiesError {
        GoProxiesError(status: .tooManyRequests, code: "resource_exhausted", message: "too many requests",
                       detail: "rate limit reached; retry after \(decision.retryAfter) seconds", headers: decision.refusalHeaders)
    }

    /// 400 `invalid_argument` with one entry per bad parameter.
    static func invalid(_ fields: [(parameter: String, code: String, message: String)]) -> GoProxiesError {
        GoProxiesError(status: .badRequest, code: "invalid_argument", message: "invalid request parameters",
                       detail: fields.map { "\($0.parameter): \($0.message)" }.joined(separator: "; "), fields: fields)
    }

    static func http(_ status: HTTPResponse.Status) -> GoProxiesError {
        GoProxiesError(status: status, code: "invalid_argument", message: status.reasonPhrase, detail: status.reasonPhrase)
    }

    /// The envelope names the request's path.
    func response(for request: Request) -> Response {
        let path = request.uri.path
        var body = "{\"error\":{\"code\":" + JSONValue.quote(code) + ",\"message\":" + JSONValue.quote(message) + ",\"detail\":" + JSONValue.quote(detail)
        if !fields.isEmpty {
            body += ",\"fields\":{" + fields.map { JSONValue.quote($0.parameter) + ":{\"code\":" + JSONValue.quote($0.code) + ",\"message\":" + JSONValue.quote($0.message) + "}" }
                .joined(separator: ",") + "}"
        }
        body += "},\"status\":\(status.code),\"path\":" + JSONValue.quote(path) + "}"
        var h = headers
        h[.contentType] = "application/json"
        if status == .unauthorized { h[.wwwAuthenticate] = "Bearer" }
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

