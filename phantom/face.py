"""Phantom faces: real photographs animated by warping along landmark displacement fields.

An :class:`Identity` is one synthetic subject: a neutral 640x480 RGB frame made from a photograph
(placed, scaled, reshaped, re-lit and given a new background) and its 68 truth landmarks.
:func:`render_frame` moves the landmarks by a displacement (the face's own motion), warps the image
with a smooth dense field that follows them, applies the head's rigid pose and adds sensor noise.
The truth returned with each frame is where the warp moved every landmark, so features computed
from the rendered video can be checked against a known answer.

The dense field is a thin-plate spline through the 68 landmark displacements and a ring of fixed
anchors around the face, multiplied by a window that is 1 on the face and 0 well outside it, so
the head outline, hair and background stay still. Its kernel matrices are evaluated once per
identity on a node grid (``NODE_STEP_PX``). Each frame costs one small matrix product, a few
Newton steps that invert the field on the nodes (and pixel by pixel around the lips, where it is
steepest), one ``cv2.remap`` of the frame, and a Newton solve of the rendered map at the 68
neutral landmarks: the truth is where the frame actually shows each landmark's content (to
0.001 px), not merely where it was asked to go (those differ by the warp's interpolation, under
1 px at an inter-ocular distance of about 115 px).

Landmarks follow the 68-point iBUG/dlib order (0-based); "left" and "right" are the subject's own.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from core.errors import ConfigError, MediaError
from core.ibug68 import (LEFT_BROW, LEFT_EYE, OUTER_EYE_CORNERS, RIGHT_BROW, RIGHT_EYE,
                         mirror_points)

CANVAS_WIDTH = 640
CANVAS_HEIGHT = 480
N_LANDMARKS = 68
# Warp field: node spacing (pixels; divides the canvas size), and its Newton inversion: most
# steps, tolerance and largest step after the first (node steps), and the field size (node
# steps) below which a node is taken as still.
NODE_STEP_PX = 4
NEWTON_STEPS = 12
NEWTON_TOLERANCE = np.float32(0.0125)
NEWTON_MAX_STEP = np.float32(2.0)
ACTIVE_FIELD = 0.005
# Longest row of points handed to cv2.remap (its map dimensions must stay below 32767).
SAMPLE_ROW = 32000
# Around the lips the map is solved pixel by pixel: margin around the lips (IOD) and width of
# the blend into the node solution (pixels).
MOUTH_MARGIN_IOD = 0.06
MOUTH_BLEND_PX = 4
# Oral cavity shown when the lips open beyond neutral: colour and largest opacity.
MOUTH_CAVITY_RGB = (45, 18, 22)
MOUTH_SHADE = 0.85
# Truth landmarks: Newton steps and tolerance (pixels) of solving map(truth) = neutral.
TRUTH_NEWTON_STEPS = 8
TRUTH_TOLERANCE_PX = 1e-3
# Reflected border around the neutral image (pixels): the largest pose translation.
PAD_PX = 48
# Noise bank margin (pixels): frames take windows at offsets 0..NOISE_OFFSETS-1 in x and y.
NOISE_OFFSETS = 32
# Lips must be parted in the photo: a warp can stretch the gap between them but cannot tear
# closed lips apart. Opening the jaw stretches a gap at this minimum about eightfold, which the
# field (with BLEND_POINTS) did without folding on the LFPW photos tried.
MIN_LIP_GAP_IOD = 0.04

# Anchor ring (zero displacement) and window, in inter-ocular distances (IOD) in the face frame
# (x towards the subject's left, y towards the chin), centred below the landmark centroid so the
# chin has room to drop by half an IOD when the jaw opens.
ANCHOR_CENTRE_DROP_IOD = 0.35
ANCHOR_SEMI_AXES_IOD = (1.3, 1.6)
ANCHOR_COUNT = 28
# Extra field constraints (landmark a, landmark b, share of b): points between landmarks that
# move with the same blend of their displacements. Without them the spline overshoots beyond
# steep spots (below a lower lip pulled far from a thin lip gap, say) and folds the image.
BLEND_POINTS = ((57, 8, 0.5), (58, 7, 0.5), (56, 9, 0.5),
                (51, 33, 0.5), (50, 32, 0.5), (52, 34, 0.5),
                (66, 57, 0.5), (67, 58, 0.5), (65, 56, 0.5),
                (62, 51, 0.5), (61, 50, 0.5), (63, 52, 0.5))
WINDOW_OUTER_RATIO = 1.35
TPS_RIDGE = 1e-7


@dataclass(frozen=True)
class IdentityParams:
    """How one phantom subject's neutral frame is made from a photograph.

    Attributes
    ----------
    iod_px : float
        Target inter-ocular distance |p36 - p45| on the canvas, in pixels.
    face_width_gain : float
        Lateral stretch of the lower face (jaw, nose, mouth) about the midline; 1 = unchanged.
    face_length_gain : float
        Vertical stretch of the face below the eye line; 1 = unchanged.
    eye_spacing_gain : float
        Factor on the distance between the eye centres (eyes and brows move apart); 1 = unchanged.
    mirror : bool
        Mirror the photograph left-right (landmark indices are swapped to stay anatomical).
    roll_deg : float
        Head roll of the neutral frame in degrees (after levelling the eyes); positive turns the
        face clockwise on screen.
    centre_dx_px, centre_dy_px : float
        Offset of the landmark centroid from the canvas centre, in pixels.
    colour_gain : tuple of 3 float
        Multipliers of the R, G and B channels (skin tone and white balance).
    light_gradient_per_iod : float
        Fractional brightness change per inter-ocular distance along ``light_angle_deg``.
    light_angle_deg : float
        Direction of the lighting gradient in the image, degrees from the +x axis.
    background_rgb : tuple of 3 int
        Base colour of the new background, 0-255.
    background_texture_sd : float
        Standard deviation of the background's smooth texture, in grey levels.
    background_opacity : float
        How much of the photo's own background is replaced, 0 (kept) to 1 (fully replaced).
    noise_sd : float
        Standard deviation of the per-frame sensor noise, in grey levels.
    """

    iod_px: float
    face_width_gain: float = 1.0
    face_length_gain: float = 1.0
    eye_spacing_gain: float = 1.0
    mirror: bool = False
    roll_deg: float = 0.0
    centre_dx_px: float = 0.0
    centre_dy_px: float = 0.0
    colour_gain: tuple = (1.0, 1.0, 1.0)
    light_gradient_per_iod: float = 0.0
    light_angle_deg: float = 0.0
    background_rgb: tuple = (128, 128, 128)
    background_texture_sd: float = 0.0
    background_opacity: float = 1.0
    noise_sd: float = 2.0

    def __post_init__(self):
        _check_range("iod_px", self.iod_px, 60.0, 200.0)
        for name in ("face_width_gain", "face_length_gain", "eye_spacing_gain"):
            _check_range(name, getattr(self, name), 0.85, 1.15)
        _check_range("roll_deg", self.roll_deg, -15.0, 15.0)
        _check_range("centre_dx_px", self.centre_dx_px, -120.0, 120.0)
        _check_range("centre_dy_px", self.centre_dy_px, -60.0, 60.0)
        if len(self.colour_gain) != 3:
            raise ConfigError(f"colour_gain must have 3 values (R, G, B); got {self.colour_gain!r}")
        for gain in self.colour_gain:
            _check_range("colour_gain", gain, 0.5, 1.5)
        _check_range("light_gradient_per_iod", self.light_gradient_per_iod, -0.3, 0.3)
        if len(self.background_rgb) != 3:
            raise ConfigError(f"background_rgb must have 3 values; got {self.background_rgb!r}")
        for level in self.background_rgb:
            _check_range("background_rgb", level, 0, 255)
        _check_range("background_texture_sd", self.background_texture_sd, 0.0, 60.0)
        _check_range("background_opacity", self.background_opacity, 0.0, 1.0)
        _check_range("noise_sd", self.noise_sd, 0.0, 20.0)


@dataclass(frozen=True)
class Pose:
    """Rigid head motion applied after the face's own motion.

    The transform is ``y = c + scale * R(roll) (x - c) + (dx, dy)`` with ``c`` the identity's
    pivot (the neutral landmark centroid).

    Attributes
    ----------
    roll_deg : float
        In-plane rotation in degrees; positive turns the head clockwise on screen.
    dx_px, dy_px : float
        Translation in pixels (image x right, y down).
    scale : float
        Scale factor (1 = neutral distance to the camera).
    """

    roll_deg: float = 0.0
    dx_px: float = 0.0
    dy_px: float = 0.0
    scale: float = 1.0

    def __post_init__(self):
        # Within these bounds the frame samples at most PAD_PX beyond the canvas edge in most
        # placements; further out the reflected border runs out and the frame corner is black.
        _check_range("roll_deg", self.roll_deg, -10.0, 10.0)
        _check_range("dx_px", self.dx_px, -PAD_PX, PAD_PX)
        _check_range("dy_px", self.dy_px, -PAD_PX, PAD_PX)
        _check_range("scale", self.scale, 0.9, 1.1)

    def matrix(self, pivot) -> np.ndarray:
        """2x3 forward affine matrix (neutral canvas -> frame) about ``pivot`` (x, y) in pixels."""
        pivot = np.asarray(pivot, float)
        angle = np.deg2rad(self.roll_deg)
        rot = self.scale * np.array([[np.cos(angle), -np.sin(angle)],
                                     [np.sin(angle), np.cos(angle)]])
        shift = pivot + np.array([self.dx_px, self.dy_px]) - rot @ pivot
        return np.hstack([rot, shift[:, None]])


@dataclass(frozen=True, eq=False)
class WarpBasis:
    """Thin-plate-spline field of one neutral face, evaluated once on a node grid.

    Attributes
    ----------
    origin : ndarray, shape (2,)
        Canvas (x, y) of node (0, 0), in pixels.
    step : int
        Node spacing in pixels.
    node_index : ndarray of int
        Flat indices (row-major in the (ny, nx) grid) of the nodes inside the window; the field
        is zero at the others.
    node_matrix : ndarray, shape (len(node_index), 68), float32
        Maps the 68 landmark displacements (per coordinate) to the windowed field at those
        nodes.
    landmark_matrix : ndarray, shape (68, 68)
        Maps the landmark displacements to the field at the neutral landmarks (close to identity).
    grid_shape : tuple of int
        (ny, nx).
    """

    origin: np.ndarray
    step: int
    node_index: np.ndarray
    node_matrix: np.ndarray
    landmark_matrix: np.ndarray
    grid_shape: tuple


@dataclass(frozen=True, eq=False)
class Identity:
    """One phantom subject's face, ready to render.

    Attributes
    ----------
    image : ndarray, shape (480, 640, 3), uint8
        Neutral RGB frame without sensor noise.
    landmarks : ndarray, shape (68, 2)
        Neutral truth landmarks (x, y) in canvas pixels.
    params : IdentityParams
        The parameters it was made with.
    basis : WarpBasis
        Precomputed warp field of the neutral face.
    padded_rgba : ndarray, shape (480 + 2 * PAD_PX, 640 + 2 * PAD_PX, 4), uint8
        ``image`` with a reflected border (so pose changes never sample outside it) and a fourth
        channel (four-channel remapping is about three times faster than three-channel).
    noise_up, noise_down : ndarray, shape (480 + NOISE_OFFSETS, 640 + NOISE_OFFSETS, 3), uint8
        Positive and negative parts of a Gaussian noise bank; each frame adds a shifted window.
    """

    image: np.ndarray
    landmarks: np.ndarray
    params: IdentityParams
    basis: WarpBasis
    padded_rgba: np.ndarray
    noise_up: np.ndarray
    noise_down: np.ndarray

    @property
    def iod_px(self) -> float:
        """Neutral inter-ocular distance |p36 - p45| in pixels."""
        return inter_ocular_distance(self.landmarks)

    @property
    def pivot(self) -> np.ndarray:
        """Centre of the head's rigid rotation and scaling: the neutral landmark centroid."""
        return self.landmarks.mean(axis=0)


def _check_range(name: str, value, low: float, high: float) -> None:
    """Raise ConfigError unless ``low <= value <= high`` (and finite)."""
    if not np.isfinite(value) or not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}; got {value!r}")


def _check_landmarks(name: str, landmarks) -> np.ndarray:
    """Return ``landmarks`` as a float (68, 2) array or raise ConfigError."""
    array = np.asarray(landmarks, dtype=float)
    if array.shape != (N_LANDMARKS, 2) or not np.all(np.isfinite(array)):
        raise ConfigError(f"{name} must be a finite (68, 2) array of (x, y) pixels; "
                          f"got shape {array.shape}")
    return array


# ---------------------------------------------------------------------------------------------
# Photographs
# ---------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def astronaut_source() -> tuple[np.ndarray, np.ndarray]:
    """The default identity photograph and its landmarks.

    scikit-image's public-domain ``astronaut`` image (NASA portrait of Eileen Collins) with the
    68 points fitted by dlib (:func:`features.video.dlib_models.fit_still_image`).

    Returns
    -------
    photo : ndarray, shape (512, 512, 3), uint8, read-only
    landmarks : ndarray, shape (68, 2), read-only
    """
    from skimage import data

    from features.video.dlib_models import fit_still_image

    photo = data.astronaut()
    landmarks = fit_still_image(photo)
    photo.setflags(write=False)
    landmarks.setflags(write=False)
    return photo, landmarks


def mirror_landmarks(landmarks: np.ndarray, *, width: int) -> np.ndarray:
    """Landmarks of the left-right mirrored image, re-indexed so each index keeps its anatomy.

    Parameters
    ----------
    landmarks : ndarray, shape (68, 2)
        (x, y) pixels in an image ``width`` pixels wide.
    width : int
        Image width in pixels.
    """
    return mirror_points(_check_landmarks("landmarks", landmarks), width=width)


def inter_ocular_distance(landmarks: np.ndarray) -> float:
    """|p36 - p45| in pixels (outer eye corners) of one face.

    Not ``core.ibug68.inter_ocular_px``: the norm of one vector rounds differently in the last
    bit from the norm along an axis (8% of random faces), and the phantom's pixels must not
    change with that."""
    right, left = OUTER_EYE_CORNERS
    return float(np.linalg.norm(landmarks[left] - landmarks[right]))


def face_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Face-aligned unit axes and the eye-line origin.

    Returns
    -------
    lateral : ndarray, shape (2,)
        Unit vector from the subject's right eye centre to the left eye centre (towards the
        subject's left).
    down : ndarray, shape (2,)
        Unit vector perpendicular to ``lateral`` pointing towards the chin.
    eye_mid : ndarray, shape (2,)
        Midpoint of the eye centres, in pixels.
    """
    right_eye = landmarks[list(RIGHT_EYE)].mean(axis=0)
    left_eye = landmarks[list(LEFT_EYE)].mean(axis=0)
    lateral = (left_eye - right_eye) / np.linalg.norm(left_eye - right_eye)
    down = np.array([-lateral[1], lateral[0]])
    return lateral, down, 0.5 * (left_eye + right_eye)


# ---------------------------------------------------------------------------------------------
# The warp field
# ---------------------------------------------------------------------------------------------

def _tps_kernel(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Thin-plate kernel r^2 log r between points and centres (coordinates in IOD units)."""
    r2 = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        kernel = 0.5 * r2 * np.log(r2)
    return np.where(r2 > 0, kernel, 0.0)


def _elliptic_radius(points: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Radius of ``points`` in units of the anchor ellipse (1 on the ring)."""
    lateral, down, _ = face_frame(landmarks)
    iod = inter_ocular_distance(landmarks)
    centre = landmarks.mean(axis=0) + ANCHOR_CENTRE_DROP_IOD * iod * down
    rel = points - centre
    u = rel @ lateral / (ANCHOR_SEMI_AXES_IOD[0] * iod)
    v = rel @ down / (ANCHOR_SEMI_AXES_IOD[1] * iod)
    return np.sqrt(u ** 2 + v ** 2)


def _window(radius: np.ndarray) -> np.ndarray:
    """1 inside the anchor ring, raised-cosine fall to 0 at ``WINDOW_OUTER_RATIO`` times it."""
    t = np.clip((radius - 1.0) / (WINDOW_OUTER_RATIO - 1.0), 0.0, 1.0)
    return 0.5 * (1.0 + np.cos(np.pi * t))


def _anchors(landmarks: np.ndarray) -> np.ndarray:
    """``ANCHOR_COUNT`` fixed points on the anchor ellipse, in canvas pixels."""
    lateral, down, _ = face_frame(landmarks)
    iod = inter_ocular_distance(landmarks)
    centre = landmarks.mean(axis=0) + ANCHOR_CENTRE_DROP_IOD * iod * down
    angle = np.linspace(0.0, 2 * np.pi, ANCHOR_COUNT, endpoint=False)
    a, b = ANCHOR_SEMI_AXES_IOD
    return (centre + np.outer(a * iod * np.cos(angle), lateral)
            + np.outer(b * iod * np.sin(angle), down))


def make_warp_basis(landmarks: np.ndarray, *, canvas_shape=(CANVAS_HEIGHT, CANVAS_WIDTH),
                    step: int = NODE_STEP_PX) -> WarpBasis:
    """Precompute the displacement field of a neutral face on a node grid.

    The field u(x) is the thin-plate spline (with affine part) that takes each landmark's
    displacement at the landmark and zero at the anchor ring, times a window that is 1 inside the
    ring and 0 beyond ``WINDOW_OUTER_RATIO`` times it.

    Parameters
    ----------
    landmarks : ndarray, shape (68, 2)
        Neutral landmarks (x, y) in canvas pixels.
    canvas_shape : tuple of int
        (height, width) of the canvas in pixels.
    step : int
        Node spacing in pixels; must divide the canvas height and width.

    Returns
    -------
    WarpBasis
    """
    landmarks = _check_landmarks("landmarks", landmarks)
    if int(step) != step or step < 1 or any(size % step for size in canvas_shape):
        raise ConfigError(f"step must be a whole number of pixels dividing the canvas size "
                          f"{canvas_shape}; got {step!r}")
    iod = inter_ocular_distance(landmarks)
    # Between-landmark points that move as the same blend of their landmarks' displacements.
    blend = np.zeros((len(BLEND_POINTS), N_LANDMARKS))
    for row, (first, second, share) in enumerate(BLEND_POINTS):
        blend[row, first] += 1.0 - share
        blend[row, second] += share
    centres_px = np.vstack([landmarks, blend @ landmarks, _anchors(landmarks)])
    scale_origin = landmarks.mean(axis=0)
    centres = (centres_px - scale_origin) / iod
    n = len(centres)
    system = np.zeros((n + 3, n + 3))
    system[:n, :n] = _tps_kernel(centres, centres) + TPS_RIDGE * np.eye(n)
    affine = np.hstack([np.ones((n, 1)), centres])
    system[:n, n:] = affine
    system[n:, :n] = affine.T
    # Weights (kernel and affine) as a linear map of the 68 landmark displacements.
    driven = np.vstack([np.eye(N_LANDMARKS), blend])
    solve = np.linalg.solve(system, np.eye(n + 3)[:, :len(driven)]) @ driven

    def field_matrix(points_px: np.ndarray) -> np.ndarray:
        points = (points_px - scale_origin) / iod
        design = np.hstack([_tps_kernel(points, centres), np.ones((len(points), 1)), points])
        return design @ solve

    height, width = canvas_shape
    support = WINDOW_OUTER_RATIO * max(ANCHOR_SEMI_AXES_IOD) * iod
    centre = landmarks.mean(axis=0) + ANCHOR_CENTRE_DROP_IOD * iod * face_frame(landmarks)[1]
    x0 = max(0.0, np.floor((centre[0] - support) / step) * step)
    y0 = max(0.0, np.floor((centre[1] - support) / step) * step)
    nx = int(np.ceil((min(width - 1.0, centre[0] + support) - x0) / step)) + 1
    ny = int(np.ceil((min(height - 1.0, centre[1] + support) - y0) / step)) + 1
    gx, gy = np.meshgrid(x0 + step * np.arange(nx), y0 + step * np.arange(ny))
    nodes = np.column_stack([gx.ravel(), gy.ravel()])
    window = _window(_elliptic_radius(nodes, landmarks))
    inside = np.flatnonzero(window > 0)
    node_matrix = (field_matrix(nodes[inside]) * window[inside, None]).astype(np.float32)
    landmark_matrix = field_matrix(landmarks)
    origin = np.array([x0, y0])
    for array in (inside, node_matrix, landmark_matrix, origin):
        array.setflags(write=False)
    return WarpBasis(origin=origin, step=int(step), node_index=inside, node_matrix=node_matrix,
                     landmark_matrix=landmark_matrix, grid_shape=(ny, nx))


def _field_packs(basis: WarpBasis, displacement: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                         np.ndarray]:
    """Forward field at the source nodes, in node units, packed for fast ``cv2.remap``.

    Returns
    -------
    first : ndarray, (ny, nx, 4), float32
        (ux, uy, dux/dx, duy/dx): field in node steps and its x-derivative.
    second : ndarray, (ny, nx, 4), float32
        (dux/dy, duy/dy, 0, 0). Four-channel remapping is several times faster than two-channel.
    field : ndarray, (ny, nx, 2), float32
        (ux, uy) in node steps.
    """
    ny, nx = basis.grid_shape
    field = np.zeros((ny, nx, 2), np.float32)
    field.reshape(-1, 2)[basis.node_index] = (basis.node_matrix
                                              @ (displacement / basis.step).astype(np.float32))
    jac_x = cv2.filter2D(field, -1, _CENTRAL_DIFFERENCE, borderType=cv2.BORDER_REPLICATE)
    jac_y = cv2.filter2D(field, -1, _CENTRAL_DIFFERENCE.T, borderType=cv2.BORDER_REPLICATE)
    first = cv2.merge([field, jac_x])
    second = cv2.merge([jac_y, np.zeros_like(jac_y)])
    return first, second, field


_CENTRAL_DIFFERENCE = np.array([[-0.5, 0.0, 0.5]], np.float32)


def _local_inverse(first: np.ndarray, second: np.ndarray, field: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Solve x + u(x) = y for every source node y (node units): the local backward map.

    Only nodes the field moves are solved. The start is one Newton step from y itself, which
    needs no sampling (u and its Jacobian are known at the nodes) and is already within
    tolerance wherever the field is gentle.
    """
    grid_x, grid_y = _node_indices(*field.shape[:2])
    sol_x, sol_y = grid_x.copy(), grid_y.copy()
    active = np.flatnonzero(np.abs(field[..., 0]) + np.abs(field[..., 1]) > ACTIVE_FIELD)
    if active.size:
        target_x, target_y = grid_x.ravel()[active], grid_y.ravel()[active]
        sol_x.flat[active], sol_y.flat[active] = _newton(
            first, second, target_x.copy(), target_y.copy(), target_x, target_y,
            f=first.reshape(-1, 4)[active], g=second.reshape(-1, 4)[active],
            interpolation=cv2.INTER_LINEAR, whole_first_step=True)
    return sol_x, sol_y


def _newton(first: np.ndarray, second: np.ndarray, px: np.ndarray, py: np.ndarray,
            target_x: np.ndarray, target_y: np.ndarray, *, f: np.ndarray, g: np.ndarray,
            interpolation: int, whole_first_step: bool) -> tuple[np.ndarray, np.ndarray]:
    """Solve p + u(p) = target for 1-D arrays of points (node units), from (px, py).

    Damped Newton's method with u sampled from ``first`` with ``interpolation`` and its
    Jacobian bilinearly from ``first`` and ``second``; ``f`` and ``g`` are those samples at
    the start. Plain fixed-point iteration would diverge where the mouth opens (there
    |grad u| exceeds 1), and undamped Newton can cycle across the opening lips, so steps are
    limited to ``NEWTON_MAX_STEP`` nodes (all but the first if ``whole_first_step``). Each point
    drops out once its residual is below ``NEWTON_TOLERANCE`` node steps.
    """
    solved_x, solved_y = px.copy(), py.copy()
    index = np.arange(px.size)
    rx = px + f[:, 0] - target_x
    ry = py + f[:, 1] - target_y
    max_step = np.float32(np.inf) if whole_first_step else NEWTON_MAX_STEP
    for _ in range(NEWTON_STEPS):
        a = 1.0 + f[:, 2]
        c = f[:, 3]
        b = g[:, 0]
        d = 1.0 + g[:, 1]
        # Where two lips are pressed together the field compresses the gap between them almost
        # to nothing (det -> 0, slightly below 0 in a sliver); the floor keeps the step finite.
        det = np.maximum(a * d - b * c, np.float32(0.02))
        step_x = (d * rx - b * ry) / det
        step_y = (a * ry - c * rx) / det
        scale = np.minimum(np.float32(1.0), max_step / (np.abs(step_x) + np.abs(step_y)
                                                        + np.float32(1e-12)))
        px = px - scale * step_x
        py = py - scale * step_y
        max_step = NEWTON_MAX_STEP
        f = _sample_points(first, px, py, interpolation)
        rx = px + f[:, 0] - target_x
        ry = py + f[:, 1] - target_y
        moving = (np.abs(rx) > NEWTON_TOLERANCE) | (np.abs(ry) > NEWTON_TOLERANCE)
        if not moving.all():
            solved_x[index[~moving]], solved_y[index[~moving]] = px[~moving], py[~moving]
            index, px, py, f, rx, ry, target_x, target_y = (
                array[moving] for array in (index, px, py, f, rx, ry, target_x, target_y))
            if index.size == 0:
                break
        g = _sample_points(second, px, py)
    solved_x[index], solved_y[index] = px, py
    return solved_x, solved_y


def _sample_points(grid: np.ndarray, px: np.ndarray, py: np.ndarray,
                   interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Samples (N, 4) of a four-channel node grid at N points (node units).

    ``cv2.remap`` limits each map dimension to 32767, so the points are laid out in rows.
    """
    n = px.size
    if n <= SAMPLE_ROW:
        return cv2.remap(grid, px[None], py[None], interpolation,
                         borderMode=cv2.BORDER_CONSTANT)[0]
    pad = -n % SAMPLE_ROW
    map_x = np.concatenate([px, np.zeros(pad, px.dtype)]).reshape(-1, SAMPLE_ROW)
    map_y = np.concatenate([py, np.zeros(pad, py.dtype)]).reshape(-1, SAMPLE_ROW)
    samples = cv2.remap(grid, map_x, map_y, interpolation, borderMode=cv2.BORDER_CONSTANT)
    return samples.reshape(-1, grid.shape[2])[:n]


@functools.lru_cache(maxsize=8)
def _node_indices(ny: int, nx: int) -> tuple[np.ndarray, np.ndarray]:
    """Read-only float32 (x, y) index grids of an (ny, nx) node grid."""
    grid_x, grid_y = np.meshgrid(np.arange(nx, dtype=np.float32), np.arange(ny, dtype=np.float32))
    grid_x.setflags(write=False)
    grid_y.setflags(write=False)
    return grid_x, grid_y


@functools.lru_cache(maxsize=4)
def _output_nodes(height: int, width: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame pixel coordinates of the output nodes: node j at pixel (j + 0.5) * step - 0.5.

    That is where ``cv2.resize`` by ``step`` reads node j.
    """
    node_x = (np.arange(width // step) + 0.5) * step - 0.5
    node_y = (np.arange(height // step) + 0.5) * step - 0.5
    grid_x, grid_y = np.meshgrid(node_x.astype(np.float32), node_y.astype(np.float32))
    grid_x.setflags(write=False)
    grid_y.setflags(write=False)
    return grid_x, grid_y


def _expand_nodes(nodes: np.ndarray, step: int, height: int, width: int) -> np.ndarray:
    """Per-pixel values (height, width) from output-node values, by bilinear interpolation.

    ``cv2.resize`` holds the outer nodes' values over the last (step - 1) / 2 pixels of each
    edge; those pixels are extrapolated linearly instead (the map is affine there, far from the
    face), so a pose shifts the frame edges like the rest.
    """
    expanded = cv2.resize(nodes, (width, height), interpolation=cv2.INTER_LINEAR)
    rim = step // 2
    for k in range(rim - 1, -1, -1):
        expanded[:, k] = 2 * expanded[:, k + 1] - expanded[:, k + 2]
        expanded[:, width - 1 - k] = 2 * expanded[:, width - 2 - k] - expanded[:, width - 3 - k]
        expanded[k] = 2 * expanded[k + 1] - expanded[k + 2]
        expanded[height - 1 - k] = 2 * expanded[height - 2 - k] - expanded[height - 3 - k]
    return expanded


def warp_maps(identity: Identity, displacement: np.ndarray, pose: Pose
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward sampling maps of one frame and the truth landmarks.

    Parameters
    ----------
    identity : Identity
    displacement : ndarray, shape (68, 2)
        Landmark motion relative to neutral, in pixels.
    pose : Pose
        Rigid head motion applied after the local warp.

    Returns
    -------
    map_x, map_y : ndarray, shape (480, 640), float32
        Output pixel (x, y) shows the neutral image at (map_x[y, x], map_y[y, x]) (canvas
        pixels), as ``cv2.remap`` reads them.
    truth : ndarray, shape (68, 2)
        Where the frame shows each neutral landmark's content, in frame pixels.
    """
    displacement = _check_landmarks("displacement", displacement)
    _check_pose(pose)
    return _sample_maps(identity.basis, identity.landmarks, displacement, pose,
                        identity.image.shape[:2], offset=0.0)


def _check_pose(pose) -> None:
    """Raise ConfigError unless ``pose`` is a Pose."""
    if not isinstance(pose, Pose):
        raise ConfigError(f"pose must be a Pose; got {type(pose).__name__}")


def _sample_maps(basis: WarpBasis, landmarks: np.ndarray, displacement: np.ndarray, pose: Pose,
                 shape: tuple, *, offset: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward maps (shifted by ``offset`` pixels in x and y) and the truth landmarks.

    The local (pose-free) backward map is solved on the source nodes, sampled at the pre-pose
    position of output nodes every ``basis.step`` pixels, and expanded to every pixel by
    ``cv2.resize``, which reproduces the pose's affine part exactly.
    """
    height, width = shape
    forward = pose.matrix(landmarks.mean(axis=0))
    inverse = cv2.invertAffineTransform(forward).astype(np.float32)
    node_x, node_y = _output_nodes(height, width, int(basis.step))
    shift = np.float32(offset)
    zx = inverse[0, 0] * node_x + inverse[0, 1] * node_y + (inverse[0, 2] + shift)
    zy = inverse[1, 0] * node_x + inverse[1, 1] * node_y + (inverse[1, 2] + shift)
    requested = ((landmarks + basis.landmark_matrix @ displacement) @ forward[:, :2].T
                 + forward[:, 2])
    moving = bool(np.any(displacement))
    if moving:
        first, second, field = _field_packs(basis, displacement)
        solution_x, solution_y = _local_inverse(first, second, field)
        grid_x, grid_y = _node_indices(*field.shape[:2])
        zeros = np.zeros_like(grid_x)
        backward = cv2.merge([solution_x - grid_x, solution_y - grid_y, zeros, zeros])
        rows, cols = _nodes_reaching_field(basis, forward, node_x, node_y)
        inv_step = np.float32(1.0 / basis.step)
        v = cv2.remap(backward, (zx[rows, cols] - np.float32(basis.origin[0] + offset)) * inv_step,
                      (zy[rows, cols] - np.float32(basis.origin[1] + offset)) * inv_step,
                      cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        zx[rows, cols] += np.float32(basis.step) * v[..., 0]
        zy[rows, cols] += np.float32(basis.step) * v[..., 1]
    step = int(basis.step)
    map_x = _expand_nodes(zx, step, height, width)
    map_y = _expand_nodes(zy, step, height, width)
    if not moving:
        return map_x, map_y, requested
    margin = MOUTH_MARGIN_IOD * inter_ocular_distance(landmarks)
    _refine_mouth(map_x, map_y, basis=basis, first=first, second=second, inverse=inverse,
                  mouth=requested[60:68], margin=margin, offset=offset)
    return map_x, map_y, _solve_maps(map_x, map_y, landmarks + offset, start=requested)


def _refine_mouth(map_x: np.ndarray, map_y: np.ndarray, *, basis: WarpBasis, first: np.ndarray,
                  second: np.ndarray, inverse: np.ndarray, mouth: np.ndarray, margin: float,
                  offset: float) -> None:
    """Solve the backward maps pixel by pixel around the lips, in place.

    The lips are where the field is steepest (a gap of a few pixels closes or opens by tens of
    pixels); interpolating the map between nodes there would smear the closing lips over a
    node step, so the lips would never meet in the picture. The node solution expanded to the
    pixels is the start; the refined box is blended into it over ``MOUTH_BLEND_PX`` at its edge.
    """
    height, width = map_x.shape
    x0, y0 = np.maximum(np.floor(mouth.min(axis=0) - margin).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(mouth.max(axis=0) + margin).astype(int) + 1, (width, height))
    if x1 - x0 < 2 * MOUTH_BLEND_PX or y1 - y0 < 2 * MOUTH_BLEND_PX:
        return
    xs, ys = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
    inv_step = np.float32(1.0 / basis.step)
    # Node units: the targets are the pixels' pre-pose canvas positions, the start is the map
    # (which reads the image ``offset`` pixels into its padding).
    shift_x = np.float32(inverse[0, 2] - basis.origin[0])
    shift_y = np.float32(inverse[1, 2] - basis.origin[1])
    target_x = ((inverse[0, 0] * xs + inverse[0, 1] * ys + shift_x) * inv_step).ravel()
    target_y = ((inverse[1, 0] * xs + inverse[1, 1] * ys + shift_y) * inv_step).ravel()
    origin_x = np.float32(basis.origin[0] + offset)
    origin_y = np.float32(basis.origin[1] + offset)
    box = (slice(y0, y1), slice(x0, x1))
    start_x = ((map_x[box] - origin_x) * inv_step).ravel()
    start_y = ((map_y[box] - origin_y) * inv_step).ravel()
    # Bicubic field samples here: the lips are where bilinear ones err most.
    f = _sample_points(first, start_x, start_y, cv2.INTER_CUBIC)
    g = _sample_points(second, start_x, start_y)
    px, py = _newton(first, second, start_x, start_y, target_x, target_y, f=f, g=g,
                     interpolation=cv2.INTER_CUBIC, whole_first_step=False)
    weight = _box_weight(y1 - y0, x1 - x0)
    step = np.float32(basis.step)
    refined_x = (origin_x + step * px).reshape(weight.shape)
    refined_y = (origin_y + step * py).reshape(weight.shape)
    map_x[box] += weight * (refined_x - map_x[box])
    map_y[box] += weight * (refined_y - map_y[box])


@functools.lru_cache(maxsize=64)
def _box_weight(height: int, width: int) -> np.ndarray:
    """1 inside, linear ramp to 0 over ``MOUTH_BLEND_PX`` pixels at the edges (float32)."""
    ramp_y = np.minimum(np.arange(height), np.arange(height)[::-1]) + 1.0
    ramp_x = np.minimum(np.arange(width), np.arange(width)[::-1]) + 1.0
    weight = np.minimum(np.minimum.outer(ramp_y, ramp_x) / MOUTH_BLEND_PX, 1.0)
    weight = weight.astype(np.float32)
    weight.setflags(write=False)
    return weight


def _nodes_reaching_field(basis: WarpBasis, forward: np.ndarray, node_x: np.ndarray,
                          node_y: np.ndarray) -> tuple[slice, slice]:
    """Rows and columns of output nodes whose pre-pose position can lie in the field's box."""
    ny, nx = basis.grid_shape
    x0, y0 = basis.origin
    x1, y1 = x0 + basis.step * (nx - 1), y0 + basis.step * (ny - 1)
    corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]]) @ forward[:, :2].T + forward[:, 2]
    low, high = corners.min(axis=0) - basis.step, corners.max(axis=0) + basis.step
    cols = np.flatnonzero((node_x[0] >= low[0]) & (node_x[0] <= high[0]))
    rows = np.flatnonzero((node_y[:, 0] >= low[1]) & (node_y[:, 0] <= high[1]))
    if cols.size == 0 or rows.size == 0:
        return slice(0, 0), slice(0, 0)
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _solve_maps(map_x: np.ndarray, map_y: np.ndarray, targets: np.ndarray, *,
                start: np.ndarray) -> np.ndarray:
    """Frame points t with map(t) = target: where the frame shows each target's content.

    The maps between pixel centres are the bilinear interpolation of their per-pixel values
    (as the frame is). Newton's method from ``start`` with the cell's exact bilinear Jacobian;
    where the lips are pressed together the map jumps by the closed gap within one pixel cell
    and Newton can hop across that cell, so any point not within ``TRUTH_TOLERANCE_PX`` is
    solved cell by cell in its neighbourhood instead.
    """
    points = start.astype(float).copy()
    for _ in range(TRUTH_NEWTON_STEPS):
        cell = np.floor(points).astype(int)
        points, residual = _bilinear_newton_step(map_x, map_y, cell, points - cell, targets)
        points += cell
        if residual.max() < TRUTH_TOLERANCE_PX:
            return points
    stuck = np.flatnonzero(residual >= TRUTH_TOLERANCE_PX)
    points[stuck] = _search_cells(map_x, map_y, targets[stuck], points[stuck])
    return points


def _bilinear_newton_step(map_x: np.ndarray, map_y: np.ndarray, cell: np.ndarray,
                          inside: np.ndarray, targets: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray]:
    """One Newton step on the bilinear map of each point's pixel cell.

    Parameters
    ----------
    cell : ndarray of int, (..., 2)
        (x, y) of each cell's top-left pixel.
    inside : ndarray, (..., 2)
        Position within the cell, (0-1, 0-1).

    Returns
    -------
    inside : ndarray, (..., 2)
        The new position relative to the cell (may leave it; steps damped to 2 pixels).
    residual : ndarray, (...)
        Largest coordinate of map(old position) - target, in pixels.
    """
    height, width = map_x.shape
    x0 = np.clip(cell[..., 0], 0, width - 2)
    y0 = np.clip(cell[..., 1], 0, height - 2)
    fx, fy = inside[..., 0], inside[..., 1]
    corners = [np.stack([map_x[r, c], map_y[r, c]], axis=-1) for r, c in
               ((y0, x0), (y0, x0 + 1), (y0 + 1, x0), (y0 + 1, x0 + 1))]
    m00, m01, m10, m11 = corners
    fx_, fy_ = fx[..., None], fy[..., None]
    value = (1 - fy_) * ((1 - fx_) * m00 + fx_ * m01) + fy_ * ((1 - fx_) * m10 + fx_ * m11)
    r = value - targets
    d_dx = (1 - fy_) * (m01 - m00) + fy_ * (m11 - m10)      # (map_x, map_y) per unit x
    d_dy = (1 - fx_) * (m10 - m00) + fx_ * (m11 - m01)
    det = d_dx[..., 0] * d_dy[..., 1] - d_dy[..., 0] * d_dx[..., 1]
    det = np.where(np.abs(det) < 1e-6, 1e-6, det)
    step = np.stack([(d_dy[..., 1] * r[..., 0] - d_dy[..., 0] * r[..., 1]) / det,
                     (d_dx[..., 0] * r[..., 1] - d_dx[..., 1] * r[..., 0]) / det], axis=-1)
    length = np.abs(step).sum(axis=-1, keepdims=True)
    step *= np.minimum(1.0, 2.0 / np.maximum(length, 1e-12))
    return inside - step, np.abs(r).max(axis=-1)


def _search_cells(map_x: np.ndarray, map_y: np.ndarray, targets: np.ndarray,
                  points: np.ndarray) -> np.ndarray:
    """Solve map(t) = target within each pixel cell near ``points``; keep the nearest solution."""
    offsets = np.stack(np.meshgrid(np.arange(-4, 4), np.arange(-4, 4)), axis=-1).reshape(-1, 2)
    cells = np.floor(points).astype(int)[:, None, :] + offsets[None]      # (n, cells, 2)
    inside = np.full(cells.shape, 0.5)
    goal = np.broadcast_to(targets[:, None, :], cells.shape)
    for _ in range(TRUTH_NEWTON_STEPS):
        inside, _ = _bilinear_newton_step(map_x, map_y, cells, inside, goal)
        inside = np.clip(inside, 0.0, 1.0)
    _, residual = _bilinear_newton_step(map_x, map_y, cells, inside, goal)
    candidates = cells + inside
    distance = np.linalg.norm(candidates - points[:, None, :], axis=-1)
    # Solutions first (by distance to the Newton result), then the smallest residual.
    score = np.where(residual < TRUTH_TOLERANCE_PX, distance, 1e6 + residual)
    best = np.argmin(score, axis=1)
    return candidates[np.arange(len(points)), best]


def _noise_offset(noise) -> tuple[int, int]:
    """Row and column offset into the noise bank for a frame index or a random generator."""
    if isinstance(noise, np.random.Generator):
        row, col = noise.integers(0, NOISE_OFFSETS, size=2)
        return int(row), int(col)
    if isinstance(noise, (int, np.integer)) and noise >= 0:
        # 397 is coprime with 32 * 32, so consecutive frames visit all offsets before repeating.
        return divmod(int(noise) * 397 % (NOISE_OFFSETS * NOISE_OFFSETS), NOISE_OFFSETS)
    raise ConfigError(f"noise must be a frame index (int >= 0) or a numpy Generator; "
                      f"got {noise!r}")


def render_frame(identity: Identity, displacement: np.ndarray, pose: Pose, noise
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Render one frame of a phantom face.

    Parameters
    ----------
    identity : Identity
        The subject.
    displacement : ndarray, shape (68, 2)
        Landmark motion relative to neutral (the face's own motion), in pixels.
    pose : Pose
        Rigid head motion applied after the local warp.
    noise : int or numpy.random.Generator
        Frame index (deterministic noise window) or a generator to draw it from.

    Returns
    -------
    frame : ndarray, shape (480, 640, 3), uint8
        RGB frame.
    truth : ndarray, shape (68, 2)
        Where the frame shows each neutral landmark's content (x, y), in pixels.
    """
    displacement = _check_landmarks("displacement", displacement)
    _check_pose(pose)
    row, col = _noise_offset(noise)
    # The padded image starts PAD_PX before the canvas; the truth is solved in padded pixels.
    map_x, map_y, truth = _sample_maps(identity.basis, identity.landmarks, displacement, pose,
                                       identity.image.shape[:2], offset=PAD_PX)
    warped = cv2.remap(identity.padded_rgba, map_x, map_y, cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT)
    frame = cv2.cvtColor(warped, cv2.COLOR_RGBA2RGB)
    _shade_mouth(frame, truth, neutral_gap=pose.scale * float(
        np.linalg.norm(identity.landmarks[62] - identity.landmarks[66])))
    height, width = frame.shape[:2]
    cv2.add(frame, identity.noise_up[row:row + height, col:col + width], dst=frame)
    cv2.subtract(frame, identity.noise_down[row:row + height, col:col + width], dst=frame)
    return frame, truth


def _shade_mouth(frame: np.ndarray, truth: np.ndarray, *, neutral_gap: float) -> None:
    """Darken the inside of the lips, in place, as far as they are open beyond neutral.

    Opening the lips stretches the photo's thin mouth gap (teeth) into the whole opening; a
    real open mouth shows the dark oral cavity. The cavity is the polygon of the inner lips
    (60-67), darkened by ``MOUTH_SHADE * (1 - neutral gap / aperture)``; ``neutral_gap`` is
    |p62 - p66| at neutral, in frame pixels (times the pose's scale).
    """
    aperture = float(np.linalg.norm(truth[62] - truth[66]))
    strength = MOUTH_SHADE * (1.0 - neutral_gap / aperture) if aperture > neutral_gap else 0.0
    if strength <= 0.0:
        return
    height, width = frame.shape[:2]
    inner = truth[60:68]
    x0, y0 = np.maximum(np.floor(inner.min(axis=0)).astype(int) - 3, 0)
    x1, y1 = np.minimum(np.ceil(inner.max(axis=0)).astype(int) + 4, (width, height))
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.float32)
    cv2.fillPoly(mask, [np.round((inner - (x0, y0)) * 4).astype(np.int32)], strength,
                 lineType=cv2.LINE_AA, shift=2)
    mask = cv2.GaussianBlur(mask, (0, 0), 1.0)
    region = frame[y0:y1, x0:x1].astype(np.float32)
    region += mask[..., None] * (np.asarray(MOUTH_CAVITY_RGB, np.float32) - region)
    frame[y0:y1, x0:x1] = np.round(region).astype(np.uint8)


def local_displacement(identity: Identity, truth: np.ndarray, pose: Pose) -> np.ndarray:
    """The face's own realised motion: truth landmarks with the pose undone, minus neutral.

    Parameters
    ----------
    identity : Identity
    truth : ndarray, shape (68, 2)
        Truth landmarks of a frame rendered with ``pose``.
    pose : Pose

    Returns
    -------
    ndarray, shape (68, 2)
        Displacement from the neutral landmarks in canvas pixels.
    """
    inverse = cv2.invertAffineTransform(pose.matrix(identity.pivot))
    return (_check_landmarks("truth", truth) @ inverse[:, :2].T + inverse[:, 2]
            - identity.landmarks)


# ---------------------------------------------------------------------------------------------
# Identities
# ---------------------------------------------------------------------------------------------

def draw_identity_params(rng: np.random.Generator) -> IdentityParams:
    """Draw one subject's appearance, independently of any diagnostic group.

    Parameters
    ----------
    rng : numpy.random.Generator

    Returns
    -------
    IdentityParams
    """
    brightness = rng.uniform(0.8, 1.12)
    warmth = rng.uniform(-0.08, 0.08)
    return IdentityParams(
        iod_px=float(rng.uniform(100.0, 130.0)),
        face_width_gain=float(rng.uniform(0.95, 1.05)),
        face_length_gain=float(rng.uniform(0.95, 1.05)),
        eye_spacing_gain=float(rng.uniform(0.97, 1.03)),
        mirror=bool(rng.random() < 0.5),
        roll_deg=float(rng.uniform(-3.0, 3.0)),
        centre_dx_px=float(rng.uniform(-50.0, 50.0)),
        centre_dy_px=float(rng.uniform(-25.0, 15.0)),
        colour_gain=(float(brightness * (1 + warmth)), float(brightness),
                     float(brightness * (1 - warmth))),
        light_gradient_per_iod=float(rng.uniform(-0.1, 0.1)),
        light_angle_deg=float(rng.uniform(0.0, 360.0)),
        background_rgb=tuple(int(v) for v in rng.integers(30, 221, size=3)),
        background_texture_sd=float(rng.uniform(3.0, 15.0)),
        background_opacity=float(rng.uniform(0.6, 1.0)),
        noise_sd=float(rng.uniform(1.5, 4.0)))


def inner_lips_swapped(landmarks: np.ndarray) -> bool:
    """True when every upper inner-lip point (61-63) lies below its lower partner (67-65)."""
    _, down, _ = face_frame(landmarks)
    return bool(np.all((landmarks[[67, 66, 65]] - landmarks[[61, 62, 63]]) @ down < 0))


def swap_inner_lips(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks with the upper (61-63) and lower (67-65) inner-lip points exchanged."""
    swapped = np.array(landmarks, dtype=float)
    swapped[[61, 62, 63, 67, 66, 65]] = swapped[[67, 66, 65, 61, 62, 63]]
    return swapped


def check_photo(photo_rgb, photo_landmarks) -> tuple[np.ndarray, np.ndarray]:
    """Validate the photograph and its landmarks; raise ConfigError or MediaError."""
    photo = np.asarray(photo_rgb)
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise ConfigError(f"photo_rgb must be an (H, W, 3) uint8 RGB image; got shape "
                          f"{photo.shape} and dtype {photo.dtype}")
    landmarks = _check_landmarks("photo_landmarks", photo_landmarks)
    height, width = photo.shape[:2]
    if (landmarks.min() < 0 or landmarks[:, 0].max() > width - 1
            or landmarks[:, 1].max() > height - 1):
        raise ConfigError(f"photo_landmarks must lie inside the {width}x{height} photo")
    _, down, _ = face_frame(landmarks)
    gaps = ((landmarks[[67, 66, 65]] - landmarks[[61, 62, 63]]) @ down
            / inter_ocular_distance(landmarks))
    if gaps.min() < 0:
        raise MediaError("the photo's upper inner-lip points (61-63) lie below its lower ones "
                         "(65-67): the annotation swaps the inner lips; fix the landmark file")
    if gaps.min() < MIN_LIP_GAP_IOD:
        raise MediaError(f"the photo's lips are (nearly) closed: inner-lip gaps p61-p67, "
                         f"p62-p66, p63-p65 are {np.round(gaps, 3).tolist()} inter-ocular "
                         f"distances, need >= {MIN_LIP_GAP_IOD} (a warp cannot tear closed lips "
                         f"apart, and stretching a thinner gap folds the image); use a photo "
                         f"with parted lips")
    return photo, landmarks


def _place_on_canvas(photo: np.ndarray, landmarks: np.ndarray, params: IdentityParams
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Level, scale, roll and position the photo on the canvas.

    Returns
    -------
    canvas : ndarray, (480, 640, 3), float32
    valid : ndarray, (480, 640), float32
        1 where the canvas shows the photo, 0 outside it.
    landmarks : ndarray, (68, 2)
        The landmarks on the canvas.
    """
    lateral, _, _ = face_frame(landmarks)
    # The eye-spacing warp adds (gain - 1) x the eye-centre distance to the IOD; aim for the
    # target IOD after it.
    centre_distance = np.linalg.norm(landmarks[list(LEFT_EYE)].mean(0) - landmarks[list(RIGHT_EYE)].mean(0))
    planned_iod = (inter_ocular_distance(landmarks)
                   + (params.eye_spacing_gain - 1.0) * centre_distance)
    scale = params.iod_px / planned_iod
    if scale < 1.0:
        # Shrink with area averaging first: warpAffine alone would alias the photo.
        height, width = photo.shape[:2]
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        factors = np.array([size[0] / width, size[1] / height])
        photo = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
        landmarks = (landmarks + 0.5) * factors - 0.5
        scale /= factors.mean()
    angle = np.deg2rad(params.roll_deg) - np.arctan2(lateral[1], lateral[0])
    linear = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    target = np.array([CANVAS_WIDTH / 2 + params.centre_dx_px,
                       CANVAS_HEIGHT / 2 + params.centre_dy_px])
    shift = target - linear @ landmarks.mean(axis=0)
    matrix = np.hstack([linear, shift[:, None]])
    size = (CANVAS_WIDTH, CANVAS_HEIGHT)
    canvas = cv2.warpAffine(photo, matrix, size, flags=cv2.INTER_CUBIC,
                            borderMode=cv2.BORDER_REPLICATE)
    valid = cv2.warpAffine(np.ones(photo.shape[:2], np.float32), matrix, size,
                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return canvas.astype(np.float32), valid, landmarks @ linear.T + shift


def _portrait_mask(landmarks: np.ndarray) -> np.ndarray:
    """Soft mask (0-1, float32) of head, hair, neck and shoulders around the landmarks."""
    lateral, down, _ = face_frame(landmarks)
    iod = inter_ocular_distance(landmarks)
    mask = np.zeros((CANVAS_HEIGHT, CANVAS_WIDTH), np.float32)
    head_centre = landmarks.mean(axis=0) - 0.3 * iod * down
    axes = (int(round(1.35 * iod)), int(round(1.75 * iod)))
    angle = float(np.degrees(np.arctan2(lateral[1], lateral[0])))
    cv2.ellipse(mask, (int(round(head_centre[0])), int(round(head_centre[1]))), axes, angle,
                0, 360, 1.0, thickness=-1)
    # Neck and shoulders, in IOD units from the chin (lateral, down).
    outline = np.array([(-0.75, -0.3), (0.75, -0.3), (0.9, 0.5), (2.6, 1.4), (2.6, 8.0),
                        (-2.6, 8.0), (-2.6, 1.4), (-0.9, 0.5)])
    polygon = landmarks[8] + iod * (np.outer(outline[:, 0], lateral)
                                    + np.outer(outline[:, 1], down))
    cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 1.0)
    return cv2.GaussianBlur(mask, (0, 0), 0.12 * iod)


def _background(params: IdentityParams, rng: np.random.Generator) -> np.ndarray:
    """Plain background of the subject's colour with a smooth random texture (float32)."""
    coarse = rng.normal(0.0, params.background_texture_sd, size=(6, 8, 3)).astype(np.float32)
    texture = cv2.resize(coarse, (CANVAS_WIDTH, CANVAS_HEIGHT), interpolation=cv2.INTER_CUBIC)
    return np.asarray(params.background_rgb, np.float32) + texture


def proportion_displacement(landmarks: np.ndarray, params: IdentityParams) -> np.ndarray:
    """Landmark displacement (68, 2) in pixels that reshapes a face as ``params`` asks.

    Lower face (jaw, nose, mouth) stretched laterally about the midline by ``face_width_gain``,
    everything below the eye line stretched downwards by ``face_length_gain``, and eyes with
    brows moved apart by ``eye_spacing_gain`` times the eye-centre distance.
    """
    landmarks = _check_landmarks("landmarks", landmarks)
    lateral, down, eye_mid = face_frame(landmarks)
    rel = landmarks - eye_mid
    along = rel @ lateral
    below = rel @ down
    shift_lateral = np.zeros(N_LANDMARKS)
    lower_face = np.r_[0:17, 31:36, 48:68]
    midline = along[27:31].mean()
    shift_lateral[lower_face] = (params.face_width_gain - 1.0) * (along[lower_face] - midline)
    half_spacing = 0.5 * np.linalg.norm(landmarks[list(LEFT_EYE)].mean(0) - landmarks[list(RIGHT_EYE)].mean(0))
    right_eye_brow = np.r_[RIGHT_BROW, RIGHT_EYE]
    left_eye_brow = np.r_[LEFT_BROW, LEFT_EYE]
    shift_lateral[right_eye_brow] = -(params.eye_spacing_gain - 1.0) * half_spacing
    shift_lateral[left_eye_brow] = (params.eye_spacing_gain - 1.0) * half_spacing
    shift_down = (params.face_length_gain - 1.0) * np.maximum(below, 0.0)
    return np.outer(shift_lateral, lateral) + np.outer(shift_down, down)


def _relight(image: np.ndarray, landmarks: np.ndarray, params: IdentityParams) -> np.ndarray:
    """Apply the colour gains and the linear lighting gradient; return uint8."""
    grid_x, grid_y = np.meshgrid(np.arange(CANVAS_WIDTH, dtype=np.float32),
                                 np.arange(CANVAS_HEIGHT, dtype=np.float32))
    centre = landmarks.mean(axis=0)
    angle = np.deg2rad(params.light_angle_deg)
    along = (grid_x - centre[0]) * np.cos(angle) + (grid_y - centre[1]) * np.sin(angle)
    light = 1.0 + params.light_gradient_per_iod * along / inter_ocular_distance(landmarks)
    lit = image * np.clip(light, 0.2, None)[..., None] * np.asarray(params.colour_gain, np.float32)
    return np.clip(np.round(lit), 0, 255).astype(np.uint8)


def _noise_bank(sd: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Positive and negative parts (uint8) of a rounded Gaussian noise bank."""
    shape = (CANVAS_HEIGHT + NOISE_OFFSETS, CANVAS_WIDTH + NOISE_OFFSETS, 3)
    bank = np.round(rng.normal(0.0, sd, size=shape))
    return (np.clip(bank, 0, 255).astype(np.uint8), np.clip(-bank, 0, 255).astype(np.uint8))


def make_identity(photo_rgb: np.ndarray, photo_landmarks: np.ndarray, *,
                  params: IdentityParams, rng: np.random.Generator) -> Identity:
    """Make one phantom subject's neutral frame from a photograph.

    The photo is mirrored if asked, levelled, scaled to the target inter-ocular distance, rolled
    and positioned on a 640x480 canvas; its background is replaced (outside a soft head and
    shoulders mask) by the subject's colour and texture; the face is reshaped with the same warp
    used for motion (so the truth landmarks stay exact); then colour gains and a lighting
    gradient are applied.

    Parameters
    ----------
    photo_rgb : ndarray, shape (H, W, 3), uint8
        A frontal face photograph with parted lips.
    photo_landmarks : ndarray, shape (68, 2)
        Its landmarks (x, y), 0-based pixels, iBUG/dlib order.
    params : IdentityParams
        The subject's appearance (see :func:`draw_identity_params`).
    rng : numpy.random.Generator
        Source of the background texture and the sensor-noise bank.

    Returns
    -------
    Identity

    Raises
    ------
    MediaError
        If the photo's lips are closed.
    """
    if not isinstance(params, IdentityParams):
        raise ConfigError(f"params must be an IdentityParams; got {type(params).__name__}")
    photo, landmarks = check_photo(photo_rgb, photo_landmarks)
    if params.mirror:
        landmarks = mirror_landmarks(landmarks, width=photo.shape[1])
        photo = np.ascontiguousarray(photo[:, ::-1])
    canvas, valid, landmarks = _place_on_canvas(photo, landmarks, params)
    inside_photo = cv2.GaussianBlur(cv2.erode(valid, np.ones((9, 9), np.uint8)), (0, 0), 3.0)
    keep = inside_photo * (1.0 - params.background_opacity * (1.0 - _portrait_mask(landmarks)))
    composed = keep[..., None] * canvas + (1.0 - keep[..., None]) * _background(params, rng)
    reshape = proportion_displacement(landmarks, params)
    basis = make_warp_basis(landmarks)
    map_x, map_y, neutral = _sample_maps(basis, landmarks, reshape, Pose(), composed.shape[:2],
                                         offset=0.0)
    reshaped = cv2.remap(composed, map_x, map_y, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT_101)
    image = _relight(reshaped, neutral, params)
    padded = cv2.copyMakeBorder(cv2.cvtColor(image, cv2.COLOR_RGB2RGBA), PAD_PX, PAD_PX, PAD_PX,
                                PAD_PX, cv2.BORDER_REFLECT_101)
    noise_up, noise_down = _noise_bank(params.noise_sd, rng)
    for array in (image, neutral, padded, noise_up, noise_down):
        array.setflags(write=False)
    return Identity(image=image, landmarks=neutral, params=params,
                    basis=make_warp_basis(neutral), padded_rgba=padded,
                    noise_up=noise_up, noise_down=noise_down)
