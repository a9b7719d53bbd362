import Hummingbird
import NIOCore
import TallyCore

/// An error of the IPRoyal dialect: `{"error":{"code","message","detailed_messages":{...}}}`.
struct IPRoyalError: DialectError {
    var status: HTTPResponse.Status
    var code: String
    var message: String
    /// Parameter → every reason it is invalid, parameters in request-documentation order (422 only).
    var detailed: [(parameter: String, messages: [String])] = []
    var headers: HTTPFields = [:]

    static let unauthenticated = IPRoyalError(status: .unauthorized, code: "unauthenticated", message: "Unauthenticated.")
    /// Unknown and foreign hashes get this same answer, so existence never leaks.
    static let userNotFound = IPRoyalError(status: .notFound, code: "not_found", message: "Residential user not found.")
    static let routeNotFound = IPRoyalError(status: .notFound, code: "not_found", message: "Not found.")
    static let unavailable = IPRoyalError(status: .serviceUnavailable, code: "service_unavailable", message: "The report could not be generated right now; retry later.")

    static func tooManyRequests(_ decision: RateDecision) -> IPRoyalError {
        IPRoyalError(status: .tooManyRequests, code: "too_many_requests", message: "Too many requests. Retry after \(decision.retryAfter) seconds.", headers: decision.refusalHeaders)
    }

    /// 422 listing every problem; the message is the first one, Laravel style ("... (and 2 more errors)").
    static func validation(_ problems: [(parameter: String, message: String)]) -> IPRoyalError {
        var detailed: [(parameter: String, messages: [String])] = []
        for p in problems {
            if let i = detailed.firstIndex(where: { $0.parameter == p.parameter }) { detailed[i].messages.append(p.message) } else { detailed.append((p.parameter, [p.message])) }
        }
        let more = problems.count - 1
        let message = (problems.first?.message ?? "The given data was invalid.") + (more > 0 ? " (and \(more) more error\(more == 1 ? "" : "s"))" : "")
        return IPRoyalError(status: .unprocessableContent, code: "validation_failed", message: message, detailed: detailed)
    }

    static func http(_ status: HTTPResponse.Status) -> IPRoyalError {
        IPRoyalError(status: status, code: "bad_request", message: status.reasonPhrase)
    }

    func response(for request: Request) -> Response {
        var body = "{\"error\":{\"code\":" + JSONValue.quote(code) + ",\"message\":" + JSONValue.quote(message)
        if !detailed.isEmpty {
            body += ",\"detailed_messages\":{" + detailed.map { d in
                JSONValue.quote(d.parameter) + ":[" + d.messages.map(JSONValue.quote).joined(separator: ",") + "]"
            }.joined(separator: ",") + "}"
        }
        body += "}}"
        var h = headers
        h[.contentType] = "application/json"
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

