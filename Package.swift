// swift-tools-version:5.10
//
// greenlet for CPython, with its core in Swift.
//
// Swift 5.10 is the floor: the sources use `nonisolated(unsafe)`.
//
// Two layers, and the manifest shows them:
// - the engine (`CStackSwitch`, `StackEngine` and their XCTests) needs no Python. A bare
//   `swift build` / `swift test` on a fresh clone builds and tests exactly this;
// - the extension (`CPythonShim`, `Greenlet`, product `_greenlet`) compiles against one
//   interpreter's headers, so it exists only when `GREENLET_BUILD_EXTENSION=1` is in the
//   environment. setup.py sets it, together with the interpreter's flags from
//   `tools/swift_flags.py`; by hand, the one-line full build is
//       GREENLET_BUILD_EXTENSION=1 swift build $(python3 tools/swift_flags.py)
//   (CONTRIBUTING.md). Without the variable, the headers are never looked for, so a
//   machine with no Python at all still builds the engine.
//
// Flags live in two places, each for a reason:
// - here, `-enforce-exclusivity=unchecked` on every Swift target: the dynamic exclusivity
//   checks keep a thread-local list of open accesses, and a stack switch corrupts it;
// - in `tools/swift_flags.py`, what depends on the interpreter (its include directory,
//   `PY_GE_3_X`, free-threading) and `-static-stdlib`, so the extension needs no Swift
//   runtime beside it.
import PackageDescription

/// Swift settings every Swift target gets (see above for why).
let stackSwitchingSettings: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"])]

/// The Python-free layer: always built, always tested.
var products: [Product] = [
    .library(name: "StackEngine", targets: ["StackEngine"]),
]
var targets: [Target] = [
    // The register switch and stack mappings: assembly per architecture, and a little C.
    .target(name: "CStackSwitch"),
    // Python-free stack slices and dedicated stacks: start, save, restore, chain.
    .target(
        name: "StackEngine",
        dependencies: ["CStackSwitch"],
        swiftSettings: stackSwitchingSettings
    ),
    .testTarget(
        name: "StackEngineTests",
        dependencies: ["StackEngine"],
        swiftSettings: stackSwitchingSettings
    ),
]

/// The CPython extension: only when a build asks for it, with one interpreter's flags.
if Context.environment["GREENLET_BUILD_EXTENSION"] == "1" {
    // Installed as greenlet/_greenlet<EXT_SUFFIX>.
    products.append(.library(name: "_greenlet", type: .dynamic, targets: ["Greenlet"]))
    targets += [
        // CPython headers (internal ones under Py_BUILD_CORE) and the macros Swift cannot import.
        .target(name: "CPythonShim"),
        // The greenlet type, interpreter state, thread state, module and C API capsules.
        .target(
            name: "Greenlet",
            dependencies: ["StackEngine", "CPythonShim"],
            swiftSettings: stackSwitchingSettings,
            // The module resolves CPython's symbols from the interpreter that loads it.
            linkerSettings: [.unsafeFlags(["-Xlinker", "--allow-shlib-undefined"])]
        ),
    ]
}

let package = Package(
    name: "SwiftGreenlet",
    products: products,
    targets: targets
)
