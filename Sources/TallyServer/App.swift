import Hummingbird
import Logging
import ServiceLifecycle
import TallyCore
import TallyStore

/// Builds the router of every face over one runtime.
public func buildRouter(runtime: TallyRuntime) -> Router<TallyContext> {
    let router = Router(context: TallyContext.self)
    OpsController(runtime: runtime).addRoutes(to: router)
    let native = router.group().add(middleware: NativeErrorMiddleware())
    IngestController(runtime: runtime).addRoutes(to: native)
    UsageController(runtime: runtime).addRoutes(to: native)
    AdminController(runtime: runtime).addRoutes(to: native)
    IngestController(runtime: runtime).addCloudEventRoutes(to: router)
    TelnyxController(runtime: runtime).addRoutes(to: router)
    OpenMeterController(runtime: runtime).addRoutes(to: router)
    IPRoyalController(runtime: runtime).addRoutes(to: router)
    ProxySellerController(runtime: runtime).addRoutes(to: router)
    GoProxiesController(runtime: runtime).addRoutes(to: router)
    return router
}

/// Closes the store after the server stopped, so every accepted batch is committed first.
struct StoreService: Service {
    let store: any UsageStore
    let logger: Logger
    func run() async throws {
        try? await gracefulShutdown()
        try await store.close()
        logger.info("store closed")
    }
}

/// Builds the whole application for a configuration (tests drive this same function).
public func buildApplication(runtime: TallyRuntime, extraServices: [any Service] = []) -> some ApplicationProtocol {
    var app = Application(
        router: buildRouter(runtime: runtime),
        server: .http1(configuration: .init(additionalChannelHandlers: [OversizedHeadHandler()])),
        configuration: .init(address: .hostname(runtime.config.server.host, port: runtime.config.server.port), serverName: "tally"),
        logger: runtime.logger
    )
    app.addServices(StoreService(store: runtime.store, logger: runtime.logger))
    for s in extraServices { app.addServices(s) }
    return app
}
