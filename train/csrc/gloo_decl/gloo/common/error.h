// Declarations c10d's ProcessGroupGloo.hpp needs to compile. The pip wheel ships c10d's headers
// but not gloo's; that header names gloo types only behind pointers and in the interface of an
// inline store adapter we never instantiate, so forward declarations are enough and leave the
// layout of ProcessGroupGloo (std types and smart pointers only) unchanged.
#pragma once
