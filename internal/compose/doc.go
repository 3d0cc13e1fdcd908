// Package compose reads Compose files (the Compose Specification, as
// docker compose reads them) for signet check: it finds every service's
// image after interpolation, extends and profiles are resolved, with the
// place in the file where each is written, and rewrites those places to
// pin them.
//
// Loading is compose-go's (github.com/compose-spec/compose-go/v2): the
// project environment is built as docker compose builds it (the process
// environment over --env-file files or .env, through compose-go's dotenv
// parser), and the loader resolves interpolation, extends and profiles.
// What compose-go cannot say — where a value is written — comes from the
// files' go.yaml.in/yaml/v3 node trees: each service's extends chain is
// followed to the mapping whose image: the merge kept.
//
// The decisions, each documented where it is made:
//   - what is checked: images that docker compose pulls (Load); built-only
//     services are not, services that build and name an image are checked
//     but not pinned (check.Finding.NoPin);
//   - profiles: as given, or every service when none is (Options);
//   - pinning a value written with variables writes the literal pinned
//     reference (Rewrite);
//   - reads: the Compose file, env files and extends files only, each a
//     bounded regular file; env_file, label_file and include are never
//     read (include is refused); nothing remote is fetched (sources);
//   - bounds: MaxFileSize, MaxTotalSize, MaxServices, MaxFiles,
//     MaxExtendsNodes, MaxInterpolation,
//     measured by TestLoadMemory.
package compose
