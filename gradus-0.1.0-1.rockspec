-- gradus-0.1.0-1.rockspec: `luarocks --lua-version 5.4 make` builds gradus
-- with meson (in build-rock/) and installs it into a LuaRocks tree: the Lua
-- module where the tree's Lua finds it, the `gradus` command in its bin/.
-- The file name carries meson.build's project version (meson checks it).
rockspec_format = "3.0"
package = "gradus"
version = "0.1.0-1"
-- The `meson dist` tarball. There is no public address yet: use
-- `luarocks make` in a checkout or in the unpacked tarball.
source = {
   url = "gradus-0.1.0.tar.xz",
   dir = "gradus-0.1.0",
}
description = {
   summary = "Neural-network optimization research: C plugins driven from Lua",
   detailed = [[
gradus is a C11 framework for research on neural-network optimization and
training dynamics: every layer, loss, optimizer, scheduler, regularizer and
initializer is a shared-object plugin, and experiments are Lua 5.4 scripts.]],
   license = "MIT",
}
dependencies = {
   "lua >= 5.4, < 5.5",
}
-- LuaRocks moves the module from $(LIBDIR) into the tree's lib/lua/5.4/ and
-- copies bin/ into the tree's bin/, so both find libgradus at its absolute
-- place in the rock's directory (-Drpath=prefix); the library and its
-- plugins go to lib-gradus/ there, out of the way of the module deploy.
-- The headers, gradus.pc and the man page stay in the rock's directory.
build = {
   type = "command",
   build_command = [[
set -e
reconfigure=
if [ -f build-rock/meson-private/coredata.dat ]; then reconfigure=--reconfigure; fi
meson setup build-rock $reconfigure --prefix="$(PREFIX)" --libdir=lib-gradus \
   -Dlua_moduledir="$(LIBDIR)" -Drpath=prefix -Dtests=false
meson compile -C build-rock
]],
   install_command = "meson install -C build-rock --quiet",
}
