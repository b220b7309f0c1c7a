// swift-tools-version:5.9
//
// greenlet for CPython, with its core in Swift.
//
// The Python include directory is not known to the manifest: the build passes it with
// `-Xcc -I<include>` (setup.py does this for the interpreter that pip runs under).
// Release builds also pass `-Xswiftc -static-stdlib -Xswiftc -enforce-exclusivity=unchecked`.
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
