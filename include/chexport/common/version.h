#pragma once

#ifndef CHEXPORT_VERSION
#define CHEXPORT_VERSION "0.1.0"
#endif
