import Hummingbird

/// The error type of one API surface, rendered in that surface's own envelope.
protocol DialectError: Error, Sendable {
    /// The answer to a path no route of the surface matches.
    static var routeNotFound: Self { get }
    /// The answer to another client-side HTTP error raised by the framework (405, 413, ...).
    static func http(_ status: HTTPResponse.Status) -> Self
    /// The answer when anything else fails: the cause is logged, never sent.
    static var unavailable: Self { get }
    func response(for request: Request) -> Response
}

/// Maps every error of a dialect's routes to the dialect's envelope; nothing else reaches the client
/// (the one error middleware per dialect, shared code, each dialect's own bytes).
struct DialectErrorMiddleware<E: DialectError>: RouterMiddleware {
    typealias Context = TallyContext
    /// Names the dialect in logs (`iproyal`, `goproxies` ...).
    let dialect: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as E {
            return e.response(for: request)
        } catch let e as HTTPError where e.status == .notFound {
            return E.routeNotFound.response(for: request)
        } catch let e as HTTPError where e.status.code < 500 {
            return E.http(e.status).response(for: request)
        } catch {
            context.logger.error("request failed", metadata: ["dialect": "\(dialect)", "error": "\(error)"])
            return E.unavailable.response(for: request)
        }
    }
}
