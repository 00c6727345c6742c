local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
T.run()
