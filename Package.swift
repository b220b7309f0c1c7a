// swift-tools-version:5.10
//
// greenlet for CPython, with its core in Swift.
//
// Swift 5.10 is the floor: the sources use `nonisolated(unsafe)`.
//
// Flags live in two places, each for a reason:
// - here, `-enforce-exclusivity=unchecked` on every Swift target: the dynamic exclusivity
//   checks keep a thread-local list of open accesses, and a stack switch corrupts it;
// - in `tools/swift_flags.py`, what depends on the interpreter (its include directory,
//   `PY_GE_3_X`, free-threading) and `-static-stdlib`, so the extension needs no Swift
//   runtime beside it. setup.py passes those for the interpreter that runs pip.
import PackageDescription

let package = Package(
    name: "SwiftGreenlet",
    products: [
        // Installed as greenlet/_greenlet<EXT_SUFFIX>.
        .library(name: "_greenlet", type: .dynamic, targets: ["Greenlet"]),
        .library(name: "StackEngine", targets: ["StackEngine"]),
    ],
    targets: [
        // The register switch: assembly per architecture, nothing else.
        .target(name: "CStackSwitch"),
        // Python-free stack slices: start, save, restore, chain.
        .target(
            name: "StackEngine",
            dependencies: ["CStackSwitch"],
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"])]
        ),
        // CPython headers (internal ones under Py_BUILD_CORE) and the macros Swift cannot import.
        .target(name: "CPythonShim"),
        // The greenlet type, interpreter state, thread state, module and C API capsule.
        .target(
            name: "Greenlet",
            dependencies: ["StackEngine", "CPythonShim"],
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"])],
            linkerSettings: [.unsafeFlags(["-Xlinker", "--allow-shlib-undefined"])]
        ),
        .testTarget(
            name: "StackEngineTests",
            dependencies: ["StackEngine"],
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"])]
        ),
    ]
)
